"""The seller's orders: a filtered list and one order's page with its actions.

Orders load through the signed-in owner (`shop__owner=request.user`), so another seller's
or a shopper's request for the order is a 404 and changes nothing. Each action calls one
fulfilment service; when it (or the form) refuses, the order page comes back with the
message and status 400, and nothing was changed.
"""

from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from shopfeed.errors import NotAllowed, ShopFeedError
from shops.models import Shop
from shops.money import currency_exponent, format_money

from .. import states
from ..ledger import accounting
from ..models import Order
from . import services as fulfilment

PAGE_SIZE = 25
HIDDEN_FROM_SELLER = ("note",)
MAX_MINOR_AMOUNT = 10**13


# --- forms ---------------------------------------------------------------------------------


def parse_amount(text: str, currency: str) -> int:
    """ "12.50" in USD -> 1250, exactly (Decimal, never float); refuses sub-cent digits."""
    cleaned = (text or "").strip().lstrip("$€£¥").replace(",", "").strip()
    exp = currency_exponent(currency)
    example = "12.50" if exp else "1250"
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValidationError(f"Enter an amount like {example}.") from None
    if not value.is_finite():
        raise ValidationError(f"Enter an amount like {example}.")
    minor = value.scaleb(exp)
    if minor != minor.to_integral_value():
        raise ValidationError(
            f"Use at most {exp} decimal places." if exp else "Use whole amounts (no decimals)."
        )
    if minor < 1:
        raise ValidationError("Enter an amount greater than zero.")
    if minor > MAX_MINOR_AMOUNT:
        raise ValidationError("That amount is larger than any order.")
    return int(minor)


class _ActionForm(forms.Form):
    """Several action forms share the order page: give each its own element ids."""

    id_prefix = ""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", f"{self.id_prefix}_%s")
        super().__init__(*args, **kwargs)


class ShipForm(_ActionForm):
    id_prefix = "ship"
    carrier = forms.CharField(max_length=fulfilment.CARRIER_MAX)
    tracking_number = forms.CharField(max_length=fulfilment.TRACKING_MAX)


class RefundForm(_ActionForm):
    id_prefix = "refund"
    amount = forms.CharField(
        max_length=30, help_text="In the order's currency, e.g. 12.50 for $12.50."
    )
    reason = forms.CharField(max_length=fulfilment.REASON_MAX, required=False)

    def __init__(self, *args, currency: str, **kwargs):
        self.currency = currency
        super().__init__(*args, **kwargs)

    def clean_amount(self) -> int:
        return parse_amount(self.cleaned_data["amount"], self.currency)


class CancelForm(_ActionForm):
    id_prefix = "cancel"
    reason = forms.CharField(
        max_length=fulfilment.REASON_MAX, help_text="The buyer sees this reason."
    )


# --- reading -------------------------------------------------------------------------------


def _shop_for(user) -> Shop | None:
    return Shop.objects.filter(owner=user).first()


def seller_orders(shop: Shop):
    return (
        Order.objects.filter(shop=shop)
        .select_related("buyer")
        .prefetch_related("items")
        .order_by("-created_at", "-pk")
    )


def search_orders(queryset, q: str):
    """By order number ("1042" or "#1042") or by the buyer's handle, email or name."""
    q = q.strip()
    if not q:
        return queryset
    handle = q.lstrip("@")
    cond = (
        Q(buyer__email__icontains=q)
        | Q(buyer__display_name__icontains=q)
        | Q(shipping_address__full_name__icontains=q)
    )
    if handle:
        cond |= Q(buyer__handle__icontains=handle)
    number = q.lstrip("#")
    if number.isdigit() and len(number) <= 18:
        cond |= Q(pk=int(number))
    return queryset.filter(cond)


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
    orders = seller_orders(shop)
    if status:
        orders = orders.filter(status=status)
    orders = search_orders(orders, q)
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
