"""The seller's orders: a filtered list and one order's page with its actions.

Orders load through the signed-in owner (`shop__owner=request.user`), so another seller's
or a shopper's request for the order is a 404 and changes nothing. Each action calls one
fulfilment service; when it (or the form) refuses, the order page comes back with the
message and status 400, and nothing was changed.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from shopfeed.errors import NotAllowed, ShopFeedError
from shops.models import Shop
from shops.money import format_money

from .. import states
from ..ledger import accounting
from ..models import Order
from . import selectors
from . import services as fulfilment
from .forms import CancelForm, RefundForm, ShipForm

PAGE_SIZE = 25
HIDDEN_FROM_SELLER = ("note",)


# --- reading -------------------------------------------------------------------------------


def _shop_for(user) -> Shop | None:
    return Shop.objects.filter(owner=user).first()


def _owned_order(request, pk) -> Order:
    return get_object_or_404(
        Order.objects.select_related("buyer", "shop", "checkout"), pk=pk, shop__owner=request.user
    )


@login_required
@require_GET
def order_list(request):
    shop = _shop_for(request.user)
    if shop is None:
        messages.info(request, "Open your shop first.")
        return redirect("shops:dashboard")
    status = request.GET.get("status", "")
    if status not in Order.Status.values:
        status = ""
    q = request.GET.get("q", "").strip()[:100]
    orders = selectors.seller_orders(shop)
    if status:
        orders = orders.filter(status=status)
    orders = selectors.search_orders(orders, q)
    counts = dict(
        Order.objects.filter(shop=shop).values_list("status").annotate(n=Count("id")).order_by()
    )
    page = Paginator(orders, PAGE_SIZE).get_page(request.GET.get("page"))
    for order in page.object_list:
        order.actions = states.allowed_actions(order)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "orders/seller_order_list.html",
        {
            "shop": shop,
            "active": "orders",
            "page": page,
            "orders": page.object_list,
            "status": status,
            "q": q,
            "statuses": [(v, label, counts.get(v, 0)) for v, label in Order.Status.choices],
            "total_count": sum(counts.values()),
            "query": query.urlencode(),
            "here": request.get_full_path(),
        },
    )


def _render_detail(request, order: Order, *, status: int = 200, error: str = "", **forms_):
    forms_.setdefault("ship_form", ShipForm())
    forms_.setdefault("refund_form", RefundForm(currency=order.currency))
    forms_.setdefault("cancel_form", CancelForm())
    return render(
        request,
        "orders/seller_order_detail.html",
        {
            "shop": order.shop,
            "active": "orders",
            "order": order,
            "items": list(order.items.all()),
            "refunds": list(order.refunds.select_related("created_by")),
            "events": list(order.events.exclude(kind__in=HIDDEN_FROM_SELLER)),
            "actions": states.allowed_actions(order),
            "seller_net": format_money(accounting.seller_net(order), order.currency),
            "refundable": format_money(order.refundable_amount, order.currency),
            "error": error,
            **forms_,
        },
        status=status,
    )


@login_required
@require_GET
def order_detail(request, pk):
    return _render_detail(request, _owned_order(request, pk))


# --- actions -------------------------------------------------------------------------------


def _back(request, order: Order):
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("orders:seller-order-detail", pk=order.pk)


def _act(request, order: Order, *, form, form_name: str, service, success: str, **extra):
    """Validate the form, call the service, and on any refusal re-render with a 400."""
    error = ""
    if form.is_valid():
        try:
            service(order=order, by=request.user, **form.cleaned_data, **extra)
        except ShopFeedError as exc:
            if exc.field and exc.field in form.fields:
                form.add_error(exc.field, exc.message)
            else:
                error = exc.message
            status = 403 if isinstance(exc, NotAllowed) else 400
            # Show the order as it is now (a failed refund attempt is on its history).
            order = _owned_order(request, order.pk)
            return _render_detail(request, order, status=status, error=error, **{form_name: form})
        messages.success(request, success(form.cleaned_data) if callable(success) else success)
        return _back(request, order)
    return _render_detail(
        request, order, status=400, error="Check the form below.", **{form_name: form}
    )


@login_required
@require_POST
def ship(request, pk):
    order = _owned_order(request, pk)
    return _act(
        request,
        order,
        form=ShipForm(request.POST),
        form_name="ship_form",
        service=fulfilment.ship_order,
        success=f"Order #{order.pk} is marked shipped; the buyer has been emailed.",
    )


@login_required
@require_POST
def deliver(request, pk):
    order = _owned_order(request, pk)
    return _act(
        request,
        order,
        form=forms.Form(request.POST),
        form_name="deliver_form",
        service=fulfilment.mark_delivered,
        success=f"Order #{order.pk} is marked delivered.",
    )


@login_required
@require_POST
def refund(request, pk):
    order = _owned_order(request, pk)
    return _act(
        request,
        order,
        form=RefundForm(request.POST, currency=order.currency),
        form_name="refund_form",
        service=fulfilment.refund_order,
        success=lambda data: (
            f"Refunded {format_money(data['amount'], order.currency)} on order #{order.pk} "
            "to the buyer's card."
        ),
    )


@login_required
@require_POST
def cancel(request, pk):
    order = _owned_order(request, pk)
    return _act(
        request,
        order,
        form=CancelForm(request.POST),
        form_name="cancel_form",
        service=fulfilment.cancel_order,
        success=f"Order #{order.pk} is cancelled; its stock is back on sale.",
    )
