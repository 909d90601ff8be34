"""Shopper pages for checking out: "Buy now", checkout (address, totals per shop), paying with
Stripe.js, and the done page. Rules live in orders.checkout.services, orders.payments and
orders.cart; these views parse, call them, and render."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from shopfeed.errors import ShopFeedError

from .. import gateway
from ..addresses import services as addresses
from ..addresses.forms import AddressForm
from ..cards import services as cards
from ..cart import selectors as cart_selectors
from ..cart import services as cart_services
from ..cart.views import render_cart, request_cart, safe_next, set_cart_count
from ..errors import CardDeclined, PaymentError
from ..flash import selectors as flash_selectors
from ..flash.services import Reservation
from ..models import Address, Cart, Checkout
from ..payments import intents
from . import services

SESSION_BUY_NOW = "buy_now"


# --- buy now ---------------------------------------------------------------------------------


@require_POST
def buy_now(request):
    """One variant straight to checkout; an anonymous shopper logs in first and comes back."""
    try:
        variant = cart_selectors.get_buyable_variant(variant_id=request.POST.get("variant_id"))
        line = services.buy_now_line(
            variant=variant,
            quantity=request.POST.get("quantity", 1),
            source=request.POST.get("source"),
            source_ref=request.POST.get("source_ref", ""),
            buyer=request.user,
        )
    except ShopFeedError as exc:
        return render_cart(
            request, error=exc.message, status=exc.status_code, back=safe_next(request)
        )
    request.session[SESSION_BUY_NOW] = {
        "variant_id": line.variant_id,
        "quantity": line.quantity,
        "source": line.source,
        "source_ref": line.source_ref,
    }
    return redirect(reverse("orders:checkout") + "?buy_now=1")


# --- checkout --------------------------------------------------------------------------------


def _address_form(data, saved: list[Address]) -> AddressForm:
    # With saved addresses the new-address fields may be hidden; hidden required inputs would
    # stop the browser from submitting, so the server alone checks them then.
    return AddressForm(data, use_required_attribute=not saved)


def _buy_now_lines(request) -> list[services.LineRequest]:
    data = request.session.get(SESSION_BUY_NOW)
    return [services.LineRequest(**data)] if data else []


def _checkout_lines(request, *, buy_now_mode: bool, cart: Cart | None):
    if buy_now_mode:
        return _buy_now_lines(request)
    return services.cart_lines_for_checkout(cart=cart) if cart else []


def _render_checkout(request, *, buy_now_mode, form, saved, choice, error="", status=200):
    if buy_now_mode:
        summary = cart_selectors.lines_summary(lines=_buy_now_lines(request), buyer=request.user)
    else:
        summary = cart_selectors.cart_summary(cart=request_cart(request), buyer=request.user)
    context = {
        "summary": summary,
        "form": form,
        "saved": saved,
        "choice": choice,
        "buy_now": buy_now_mode,
        "error": error,
    }
    return render(request, "orders/checkout.html", context, status=status)


def _address_choice(choice: str, form: AddressForm) -> dict:
    """place_order's address arguments: the new address typed in, or a saved one's id."""
    if choice != "new":
        return {"address_id": choice}
    data = {k: v for k, v in form.cleaned_data.items() if k != "save_address"}
    return {"address": data, "save_address": bool(form.cleaned_data.get("save_address"))}


@login_required
@require_http_methods(["GET", "POST"])
def checkout_page(request):
    buy_now_mode = (request.POST or request.GET).get("buy_now") == "1"
    saved = list(addresses.list_addresses(user=request.user))
    if request.method == "GET":
        if not _checkout_lines(request, buy_now_mode=buy_now_mode, cart=request_cart(request)):
            return redirect("orders:cart")
        choice = str(saved[0].pk) if saved else "new"
        return _render_checkout(
            request,
            buy_now_mode=buy_now_mode,
            form=_address_form(None, saved),
            saved=saved,
            choice=choice,
        )

    choice = request.POST.get("address", "new")
    form = _address_form(request.POST if choice == "new" else None, saved)
    if choice == "new" and not form.is_valid():
        return _render_checkout(
            request,
            buy_now_mode=buy_now_mode,
            form=form,
            saved=saved,
            choice=choice,
            error="Check the shipping address.",
            status=400,
        )
    try:
        checkout = services.place_order(
            buyer=request.user,
            cart=None if buy_now_mode else request_cart(request),
            lines=_buy_now_lines(request) if buy_now_mode else (),
            **_address_choice(choice, form),
        )
    except ValidationError as exc:
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
        error, status = "Check the shipping address.", 400
    except ShopFeedError as exc:
        error, status = exc.message, exc.status_code
    else:
        if buy_now_mode:
            request.session.pop(SESSION_BUY_NOW, None)
        else:
            set_cart_count(request, cart_selectors.item_count(cart=request_cart(request)))
        return redirect(placed_url(checkout))
    return _render_checkout(
        request,
        buy_now_mode=buy_now_mode,
        form=form,
        saved=saved,
        choice=choice,
        error=error,
        status=status,
    )


def placed_url(placed: Checkout | Reservation) -> str:
    """Where a buyer goes next: the pay page, or a flash reservation's page until its checkout
    is written."""
    if isinstance(placed, Reservation):
        return reverse("orders:flash-reservation", kwargs={"reservation_id": placed.id})
    return reverse("orders:checkout-pay", kwargs={"checkout_id": placed.pk})


# --- a flash-sale reservation ----------------------------------------------------------------


@login_required
@require_GET
def flash_reservation(request, reservation_id):
    """A reserved flash-sale unit: the pay page as soon as the writer has written its checkout
    (waiting a moment for it), else a page that asks again by itself."""
    polling = request.headers.get("HX-Request") == "true"
    state, row = flash_selectors.wait_for_checkout(
        reservation_id=reservation_id,
        buyer=request.user,
        timeout=0 if polling else settings.FLASH_WAIT_SECONDS,
    )
    if state == "written" and row is not None and row.checkout_id is not None:
        pay = reverse("orders:checkout-pay", kwargs={"checkout_id": row.checkout_id})
        if polling:
            return HttpResponse(status=204, headers={"HX-Redirect": pay})
        return redirect(pay)
    status = {"pending": 202, "rejected": 409, "lost": 404}[state]
    template = "orders/_flash_status.html" if polling else "orders/flash_reservation.html"
    context = {"state": state, "reservation": row, "reservation_id": reservation_id}
    return render(request, template, context, status=200 if polling else status)


# --- paying ----------------------------------------------------------------------------------


def _own_checkout(request, checkout_id) -> Checkout:
    """Only the buyer sees a checkout; to anyone else it does not exist."""
    return get_object_or_404(Checkout, pk=checkout_id, buyer=request.user)


def _orders(checkout: Checkout):
    return checkout.orders.select_related("shop", "shop__owner").prefetch_related("items")


@login_required
@require_GET
def checkout_pay(request, checkout_id):
    checkout = _own_checkout(request, checkout_id)
    if checkout.status == Checkout.Status.PAID:
        return redirect("orders:checkout-done", checkout_id=checkout.pk)
    error, status, declined = "", 200, False
    if checkout.status == Checkout.Status.OPEN:
        try:
            page = intents.prepare_payment(checkout=checkout)
        except ShopFeedError as exc:
            error, status = exc.message, exc.status_code
        else:
            checkout, declined = page.checkout, page.declined
    context = {
        "checkout": checkout,
        "orders": list(_orders(checkout)),
        "error": error,
        "declined": CardDeclined().message if declined else "",
        "stripe_js_url": settings.STRIPE_JS_URL,
        "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
        "local_stripe": gateway.uses_local_stripe(),
        "saved_card": cards.default_card(user=request.user),
    }
    return render(request, "orders/pay.html", context, status=status)


@login_required
@require_POST
def checkout_local_confirm(request, checkout_id):
    """localstripe only (development, tests): attach the tokenised card and confirm."""
    if not gateway.uses_local_stripe():
        raise Http404
    checkout = _own_checkout(request, checkout_id)
    try:
        pi = intents.confirm_tokenised_card(
            checkout=checkout,
            by=request.user,
            payment_method=request.POST.get("payment_method", ""),
        )
    except PaymentError as exc:  # Stripe said no (a declined card): payment required
        return JsonResponse({"detail": exc.message, "code": exc.code}, status=402)
    except ShopFeedError as exc:
        return JsonResponse({"detail": exc.message, "code": exc.code}, status=exc.status_code)
    if pi.status == "requires_action":  # 3-D Secure, on this attempt's PaymentIntent
        return JsonResponse({"status": pi.status, "client_secret": pi.client_secret})
    return JsonResponse({"status": pi.status})


@login_required
@require_GET
def checkout_done(request, checkout_id):
    checkout = _own_checkout(request, checkout_id)
    return render(
        request, "orders/done.html", {"checkout": checkout, "orders": list(_orders(checkout))}
    )


@login_required
@require_GET
def checkout_status(request, checkout_id):
    """What the done page polls (htmx, every second) until the payment is confirmed."""
    checkout = _own_checkout(request, checkout_id)
    return render(
        request,
        "orders/_checkout_status.html",
        {"checkout": checkout, "orders": list(_orders(checkout))},
    )


@login_required
@require_POST
def checkout_restore(request, checkout_id):
    """An unpaid checkout that ended (expired, failed, cancelled): its items back in the cart."""
    checkout = _own_checkout(request, checkout_id)
    try:
        cart_services.restore_checkout_to_cart(
            checkout=checkout, cart=request_cart(request, create=True)
        )
    except ShopFeedError as exc:
        return render_cart(request, error=exc.message, status=exc.status_code)
    set_cart_count(request, cart_selectors.item_count(cart=request_cart(request)))
    return redirect("orders:cart")
