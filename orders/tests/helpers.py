"""Test helpers for orders: place a real checkout, and pay it the way payments.py will.

`pay_checkout` creates a real PaymentIntent at localstripe (through orders.gateway), pays
it with a test card (PaymentMethod 4242..., then update, then confirm: localstripe does not
take `payment_method` on confirm) and marks the checkout and its orders paid with the sale
posted to the ledger. Refunds then go through the real gateway against localstripe. Pass
`stripe=False` for tests that never touch Stripe (no localstripe needed).
"""

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from orders import emails, gateway
from orders.checkout.services import LineRequest, start_checkout
from orders.ledger import accounting
from orders.ledger.models import LedgerAccount, LedgerEntry
from orders.models import Checkout, Order, OrderEvent
from shopfeed.accounts.tests.factories import UserFactory
from shops.tests.factories import ProductFactory, VariantFactory

ADDRESS = {
    "full_name": "Ada Buyer",
    "line1": "1 Test Street",
    "city": "Springfield",
    "region": "NY",  # 12345 is a New York ZIP code
    "postal_code": "12345",
    "country": "US",
}


def place_order(
    *, buyer=None, shop=None, variant=None, quantity: int = 1, price_amount: int = 2500
) -> Order:
    """One unpaid order (stock reserved) through the real checkout service."""
    buyer = buyer or UserFactory()
    if variant is None:
        product = ProductFactory(shop=shop) if shop is not None else ProductFactory()
        variant = VariantFactory(product=product, price_amount=price_amount, quantity=10)
    checkout = start_checkout(
        buyer=buyer,
        lines=[LineRequest(variant_id=variant.pk, quantity=quantity)],
        address=ADDRESS,
    )
    return checkout.orders.get()


def _stripe_post(path: str, data: dict | None = None) -> dict:
    import requests

    response = requests.post(
        f"{settings.STRIPE_API_BASE}{path}",
        data=data or {},
        headers={"Authorization": f"Bearer {settings.STRIPE_SECRET_KEY}"},
        timeout=10,
    )
    body = response.json()
    assert response.ok, body
    return body


def create_paid_payment_intent(*, amount: int, currency: str, idempotency_key: str) -> str:
    """A PaymentIntent at localstripe paid with the 4242 test card; returns its id."""
    pi = gateway.create_payment_intent(
        amount=amount, currency=currency, idempotency_key=idempotency_key, metadata={}
    )
    pm = _stripe_post(
        "/v1/payment_methods",
        {
            "type": "card",
            "card[number]": "4242424242424242",
            "card[exp_month]": "12",
            "card[exp_year]": str(timezone.now().year + 3),
            "card[cvc]": "123",
        },
    )
    _stripe_post(f"/v1/payment_intents/{pi.id}", {"payment_method": pm["id"]})
    confirmed = _stripe_post(f"/v1/payment_intents/{pi.id}/confirm")
    assert confirmed["status"] == "succeeded", confirmed
    return pi.id


@transaction.atomic
def pay_checkout(checkout: Checkout, *, stripe: bool = True) -> Checkout:
    """What a verified payment does: checkout and orders paid, sale posted, emails queued."""
    if stripe:
        checkout.payment_intent_id = create_paid_payment_intent(
            amount=checkout.total_amount,
            currency=checkout.currency,
            idempotency_key=checkout.idempotency_key,
        )
    now = timezone.now()
    checkout.status = Checkout.Status.PAID
    checkout.amount_received = checkout.total_amount
    checkout.paid_at = now
    checkout.save()
    for order in checkout.orders.select_related("shop"):
        order.status = Order.Status.PAID
        order.paid_at = now
        order.save(update_fields=["status", "paid_at", "updated_at"])
        accounting.post_sale(order)
        OrderEvent.objects.create(order=order, kind="paid", message="Payment received.")
        emails.order_placed(order)
    return checkout


def paid_order(*, stripe: bool = True, **kwargs) -> Order:
    """place_order(**kwargs), paid (at localstripe unless stripe=False)."""
    order = place_order(**kwargs)
    pay_checkout(order.checkout, stripe=stripe)
    order.refresh_from_db()
    return order


def order_ledger(order: Order) -> dict[str, int]:
    """What the ledger holds for this one order, per account kind (sale, refunds, release)."""
    refs = [f"sale:order:{order.pk}", f"release:order:{order.pk}"]
    refs += [f"refund:{pk}" for pk in order.refunds.values_list("pk", flat=True)]
    rows = (
        LedgerEntry.objects.filter(transaction__reference__in=refs)
        .values_list("account__kind")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    totals = {kind: 0 for kind in LedgerAccount.Kind.values}
    totals.update({kind: int(total) for kind, total in rows})
    return totals
