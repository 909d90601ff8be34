"""Order emails (placed, shipped, refunded) through Django's email backend.

Each function only schedules the message for after the current transaction commits, so a
rolled-back change sends nothing; the message is built from the rows as committed. A mail
server failure is logged and never undoes the order change (`robust=True`).
"""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template import Context
from django.template.loader import get_template, render_to_string
from django.urls import reverse

from shops.money import format_money

from .models import Order, Refund


def _absolute(path: str) -> str:
    # Mail is read outside the site, so every link carries the site's address.
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def _render_text(name: str, context: dict) -> str:
    # Plain text is not HTML: escaping would mail "Leo&#x27;s Kitchen".
    return get_template(name).template.render(Context(context, autoescape=False))


def _send(template: str, context: dict, to: str) -> None:
    if not to:
        return
    subject = " ".join(_render_text(f"emails/{template}_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject, _render_text(f"emails/{template}.txt", context), None, [to]
    )
    html = render_to_string(f"emails/{template}.html", {**context, "subject": subject})
    message.attach_alternative(html, "text/html")
    message.send()


def _load_order(order_id: int) -> Order:
    return (
        Order.objects.select_related("buyer", "shop", "shop__owner")
        .prefetch_related("items")
        .get(pk=order_id)
    )


def _order_context(order: Order) -> dict:
    return {
        "order": order,
        "items": [
            {"item": item, "line_total": format_money(item.line_total_amount, order.currency)}
            for item in order.items.all()
        ],
        "total": format_money(order.total_amount, order.currency),
        "buyer_url": _absolute(reverse("orders:order-detail", args=[order.pk])),
        "seller_url": _absolute(reverse("orders:seller-order-detail", args=[order.pk])),
    }


def _send_placed(order_id: int) -> None:
    order = _load_order(order_id)
    context = _order_context(order)
    _send("order_placed", context, order.buyer.email)
    _send("order_received", context, order.shop.owner.email)


def _send_shipped(order_id: int) -> None:
    order = _load_order(order_id)
    _send("order_shipped", _order_context(order), order.buyer.email)


def _send_refunded(refund_id: int) -> None:
    refund = Refund.objects.get(pk=refund_id)
    order = _load_order(refund.order_id)
    context = {
        **_order_context(order),
        "refund": refund,
        "amount": format_money(refund.amount, refund.currency),
        "refunded_total": format_money(order.refunded_amount, order.currency),
    }
    _send("order_refunded", context, order.buyer.email)


def order_placed(order: Order) -> None:
    """The buyer's confirmation and the seller's "new order" notice, once the order is paid."""
    transaction.on_commit(lambda: _send_placed(order.pk), robust=True)


def order_shipped(order: Order) -> None:
    transaction.on_commit(lambda: _send_shipped(order.pk), robust=True)


def order_refunded(refund: Refund) -> None:
    transaction.on_commit(lambda: _send_refunded(refund.pk), robust=True)
