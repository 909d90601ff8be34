"""Shopper pages for buying: the cart, "Buy now", checkout (address, totals per shop) and
paying with Stripe.js. Rules live in orders.cart, orders.addresses, orders.checkout and
orders.payments; these views parse, call them, and render."""

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from shopfeed.errors import NotFound, ShopFeedError

from ..addresses import services as addresses
from ..cards import services as cards
from ..checkout.services import LineRequest, start_checkout
from ..errors import PaymentError
from ..models import Address, Cart, Checkout
from ..payments import settlement as payments
from . import services as carts

SESSION_BUY_NOW = "buy_now"


# --- helpers ---------------------------------------------------------------------------------


def _session_key(request, *, create: bool) -> str | None:
    key = request.session.get(carts.SESSION_CART_KEY)
    if key is None and create:
        key = request.session[carts.SESSION_CART_KEY] = carts.new_session_key()
    return key


def _cart(request, *, create: bool = False) -> Cart | None:
    user = request.user if request.user.is_authenticated else None
    key = None if user else _session_key(request, create=create)
    if create:
        return carts.get_or_create_cart(user=user, session_key=key)
    return carts.get_cart(user=user, session_key=key)


def _set_count(request, count: int) -> None:
    if request.session.get(carts.SESSION_COUNT_KEY) != count:
        request.session[carts.SESSION_COUNT_KEY] = count


def _safe_next(request, default: str = "") -> str:
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return default


def _is_htmx(request) -> bool:
    return bool(getattr(request, "htmx", False))


def uses_local_stripe() -> bool:
    """localstripe's Stripe.js needs the server's help to attach a card (see checkout.js)."""
    return not settings.STRIPE_JS_URL.startswith("https://js.stripe.com/")


# --- cart ------------------------------------------------------------------------------------


def _render_cart(request, *, error: str = "", status: int = 200, back: str = ""):
    cart = _cart(request)
    summary = carts.cart_summary(cart=cart, buyer=request.user)
    _set_count(request, summary.count)
    context = {"summary": summary, "error": error, "back": back}
    template = "orders/cart.html"
    if _is_htmx(request):
        # htmx does not swap 4xx answers; the error is in the swapped body instead.
        template, status = "orders/_cart_body.html", 200
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response


@require_GET
def cart_page(request):
    return _render_cart(request)


@require_POST
def cart_add(request):
    back = _safe_next(request)
    try:
        variant = carts.get_buyable_variant(variant_id=request.POST.get("variant_id"))
        cart = _cart(request, create=True)
        carts.add_to_cart(
            cart=cart,
            variant=variant,
            quantity=request.POST.get("quantity", 1),
            source=request.POST.get("source"),
            source_ref=request.POST.get("source_ref", ""),
            buyer=request.user,
        )
    except ShopFeedError as exc:
        return _render_cart(request, error=exc.message, status=exc.status_code, back=back)
    _set_count(request, carts.item_count(cart=cart))
    return redirect("orders:cart")


@require_POST
def cart_item_update(request, item_id):
    error, status = "", 200
    try:
        cart = _cart(request)
        if cart is None:
            raise NotFound("That item is not in your cart.")
        carts.update_cart_item(cart=cart, item_id=item_id, quantity=request.POST.get("quantity"))
    except ShopFeedError as exc:
        error, status = exc.message, exc.status_code
    if _is_htmx(request) or error:
        return _render_cart(request, error=error, status=status)
    return redirect("orders:cart")


@require_POST
def cart_item_remove(request, item_id):
    error, status = "", 200
    try:
        cart = _cart(request)
        if cart is None:
            raise NotFound("That item is not in your cart.")
        carts.remove_cart_item(cart=cart, item_id=item_id)
    except ShopFeedError as exc:
        error, status = exc.message, exc.status_code
    if _is_htmx(request) or error:
        return _render_cart(request, error=error, status=status)
    return redirect("orders:cart")


@require_POST
def buy_now(request):
    """One variant straight to checkout; an anonymous shopper logs in first and comes back."""
    try:
        variant = carts.get_buyable_variant(variant_id=request.POST.get("variant_id"))
        line = carts.buy_now_line(
            variant=variant,
            quantity=request.POST.get("quantity", 1),
            source=request.POST.get("source"),
            source_ref=request.POST.get("source_ref", ""),
            buyer=request.user,
        )
    except ShopFeedError as exc:
        return _render_cart(
            request, error=exc.message, status=exc.status_code, back=_safe_next(request)
        )
    request.session[SESSION_BUY_NOW] = {
        "variant_id": line.variant_id,
        "quantity": line.quantity,
        "source": line.source,
        "source_ref": line.source_ref,
    }
    return redirect(reverse("orders:checkout") + "?buy_now=1")


# --- checkout --------------------------------------------------------------------------------


class AddressForm(forms.ModelForm):
    save_address = forms.BooleanField(
        required=False, initial=True, label="Save this address for next time"
    )

    class Meta:
        model = Address
        fields = [
            "full_name",
            "line1",
            "line2",
            "city",
            "region",
            "postal_code",
            "country",
            "phone",
        ]
        labels = {
            "line1": "Address",
            "line2": "Apartment, suite (optional)",
            "region": "State / region",
            "country": "Country code",
        }
        widgets = {
            "full_name": forms.TextInput(attrs={"autocomplete": "name"}),
            "line1": forms.TextInput(attrs={"autocomplete": "address-line1"}),
            "line2": forms.TextInput(attrs={"autocomplete": "address-line2"}),
            "city": forms.TextInput(attrs={"autocomplete": "address-level2"}),
            "region": forms.TextInput(attrs={"autocomplete": "address-level1"}),
            "postal_code": forms.TextInput(attrs={"autocomplete": "postal-code"}),
            "country": forms.TextInput(
                attrs={"autocomplete": "country", "maxlength": 2, "placeholder": "US"}
            ),
            "phone": forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"}),
        }

    def clean_country(self):
        country = self.cleaned_data["country"].strip().upper()
        if len(country) != 2 or not country.isalpha():
            raise ValidationError("Use the two-letter country code, e.g. US or GB.")
        return country


def _address_form(data, saved: list[Address]) -> AddressForm:
    # With saved addresses the new-address fields may be hidden; hidden required inputs would
    # stop the browser from submitting, so the server alone checks them then.
    return AddressForm(data, use_required_attribute=not saved)


def _checkout_lines(request, *, buy_now_mode: bool, cart: Cart | None) -> list[LineRequest]:
    if buy_now_mode:
        data = request.session.get(SESSION_BUY_NOW)
        return [LineRequest(**data)] if data else []
    return carts.cart_lines_for_checkout(cart=cart) if cart else []


def _render_checkout(request, *, buy_now_mode, form, saved, choice, error="", status=200):
    if buy_now_mode:
        lines = _checkout_lines(request, buy_now_mode=True, cart=None)
        summary = carts.lines_summary(lines=lines, buyer=request.user)
    else:
        summary = carts.cart_summary(cart=_cart(request), buyer=request.user)
    context = {
        "summary": summary,
        "form": form,
        "saved": saved,
        "choice": choice,
        "buy_now": buy_now_mode,
        "error": error,
    }
    return render(request, "orders/checkout.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def checkout_page(request):
    buy_now_mode = (request.POST or request.GET).get("buy_now") == "1"
    saved = list(addresses.list_addresses(user=request.user))
    if request.method == "GET":
        if not _checkout_lines(request, buy_now_mode=buy_now_mode, cart=_cart(request)):
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
        checkout = _start(request, buy_now_mode=buy_now_mode, choice=choice, form=form)
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
            _set_count(request, carts.item_count(cart=_cart(request)))
        return redirect("orders:checkout-pay", checkout_id=checkout.pk)
    return _render_checkout(
        request,
        buy_now_mode=buy_now_mode,
        form=form,
        saved=saved,
        choice=choice,
        error=error,
        status=status,
    )


@transaction.atomic
def _start(request, *, buy_now_mode: bool, choice: str, form: AddressForm) -> Checkout:
    """Address, reservation and the cart's hand-over happen together or not at all."""
    cart = None
    if not buy_now_mode:
        cart = _cart(request)
        if cart is not None:
            cart = Cart.objects.select_for_update().get(pk=cart.pk)
    lines = _checkout_lines(request, buy_now_mode=buy_now_mode, cart=cart)
    if not lines:
        raise ShopFeedError("Your cart is empty.", code="empty_cart")
    if choice == "new":
        data = {k: v for k, v in form.cleaned_data.items() if k != "save_address"}
        address = (
            addresses.save_address(user=request.user, data=data)
            if form.cleaned_data.get("save_address")
            else data
        )
    else:
        address = addresses.get_address(user=request.user, address_id=choice)
    checkout = start_checkout(buyer=request.user, lines=lines, address=address)
    if cart is not None:
        carts.remove_checked_out_items(cart=cart, variant_ids=[ln.variant_id for ln in lines])
    return checkout


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
    error, status = "", 200
    if checkout.status == Checkout.Status.OPEN:
        try:
            checkout = payments.ensure_payment_intent(checkout=checkout)
        except ShopFeedError as exc:
            error, status = exc.message, exc.status_code
    context = {
        "checkout": checkout,
        "orders": list(_orders(checkout)),
        "error": error,
        "stripe_js_url": settings.STRIPE_JS_URL,
        "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
        "local_stripe": uses_local_stripe(),
        "saved_card": cards.default_card(user=request.user),
    }
    return render(request, "orders/pay.html", context, status=status)


@login_required
@require_POST
def checkout_local_confirm(request, checkout_id):
    """localstripe only (development, tests): attach the tokenised card and confirm."""
    if not uses_local_stripe():
        raise Http404
    checkout = _own_checkout(request, checkout_id)
    try:
        status = carts.confirm_card_on_local_stripe(
            checkout=checkout, payment_method=request.POST.get("payment_method", "")
        )
    except PaymentError as exc:  # Stripe said no (a declined card): payment required
        return JsonResponse({"detail": exc.message, "code": exc.code}, status=402)
    except ShopFeedError as exc:
        return JsonResponse({"detail": exc.message, "code": exc.code}, status=exc.status_code)
    return JsonResponse({"status": status})


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
        carts.restore_checkout_to_cart(checkout=checkout, cart=_cart(request, create=True))
    except ShopFeedError as exc:
        return _render_cart(request, error=exc.message, status=exc.status_code)
    _set_count(request, carts.item_count(cart=_cart(request)))
    return redirect("orders:cart")
