"""Buying from the live page: one tap with the buyer's default address (and saved card), or
the address form first. Rules live in live.selling.services; this view parses and renders."""

from functools import partial

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from live import selectors
from live.models import LiveSession
from orders.addresses import services as addresses
from orders.addresses.forms import AddressForm
from orders.cards import services as cards
from orders.flash import selectors as flash_selectors
from orders.flash.services import Reservation
from orders.payments import intents
from shopfeed.errors import NotFound, ShopFeedError
from shops.forms import add_service_error
from shops.models import Shop, Variant

from . import services as selling
from .selectors import active_deal


def _quantity(raw) -> int:
    try:
        quantity = int(raw or 1)
    except (TypeError, ValueError):
        raise ShopFeedError("Quantity must be a whole number.", field="quantity") from None
    if not 1 <= quantity <= 99:
        raise ShopFeedError("Quantity must be between 1 and 99.", field="quantity")
    return quantity


def _variant(raw) -> Variant:
    try:
        return Variant.objects.select_related("product", "shop").get(
            pk=int(raw), shop__status=Shop.Status.ACTIVE
        )
    except (Variant.DoesNotExist, TypeError, ValueError):
        raise NotFound("Choose an option of the pinned product.", code="no_such_variant") from None


def _buy_page(request, session, *, variant=None, quantity=1, form=None, error="", status=200):
    price = None
    if variant is not None:  # what the buyer will pay: the deal price while one runs
        price = variant.price_amount
        deal = active_deal(session_id=session.pk, product_id=variant.product_id)
        if deal is not None and deal.deal_price_amount < price:
            price = deal.deal_price_amount
    return render(
        request,
        "live/buy.html",
        {
            "session": session,
            "variant": variant,
            "unit_price_amount": price,
            "quantity": quantity,
            "form": form,
            "error": error,
            "deal_id": request.POST.get("deal_id", ""),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def buy(request, pk):
    """One tap from the live page: the buyer's default address, straight to paying.

    No saved address yet: ask for one (saved as the default), then carry on. With a saved
    card too, the tap pays with it and goes to the done page."""
    try:
        session = selectors.get_watchable_session(session_id=pk, user=request.user)
    except LiveSession.DoesNotExist:
        raise Http404("No such live session.") from None
    try:
        selling.ensure_not_seller(session=session, buyer=request.user)
    except ShopFeedError as exc:  # the host: told at once, never shown an address form
        return _buy_page(request, session, error=exc.message, status=exc.status_code)
    if request.method == "GET":  # back from logging in: the live page has the buttons
        return redirect("live:watch", pk=session.pk)
    try:
        variant = _variant(request.POST.get("variant_id"))
        quantity = _quantity(request.POST.get("quantity"))
    except ShopFeedError as exc:
        return _buy_page(request, session, error=exc.message, status=exc.status_code)
    return _buy_variant(request, session, variant, quantity)


def _buy_variant(request, session, variant, quantity):
    """Ask for an address if there is none yet (after saying what would refuse the purchase
    anyway), then place the order; with a saved address and card, pay at once."""
    page = partial(_buy_page, request, session, variant=variant, quantity=quantity)
    address = addresses.list_addresses(user=request.user).first()
    address_form = request.POST.get("address_form") == "1"
    if address is None or address_form:
        try:
            selling.check_live_buy(
                session=session, buyer=request.user, variant=variant, quantity=quantity
            )
        except ShopFeedError as exc:
            return page(error=exc.message, status=exc.status_code)
    form = None
    if address_form:
        form = AddressForm(request.POST)
        if not form.is_valid():
            return page(form=form, status=400)
    elif address is None:
        return page(form=AddressForm())

    deal_id = request.POST.get("deal_id") or None
    try:
        if form is not None:
            checkout = selling.live_buy_now_with_new_address(
                session=session, buyer=request.user, variant=variant, quantity=quantity,
                address_data={k: v for k, v in form.cleaned_data.items() if k != "save_address"},
                deal_id=deal_id,
            )  # fmt: skip
        else:
            checkout = selling.live_buy_now(
                session=session, buyer=request.user, variant=variant, quantity=quantity,
                address=address, deal_id=deal_id,
            )  # fmt: skip
    except ValidationError as exc:
        if form is None:
            return _buy_page(request, session, error="; ".join(exc.messages), status=400)
        add_service_error(form, exc)
        return page(form=form, status=400)
    except ShopFeedError as exc:
        if form is None and exc.code == "address_incomplete":
            # A default address saved before addresses were checked per country: fix it here.
            fix = AddressForm(initial=address.snapshot() if address else None)
            return page(form=fix, error=exc.message, status=exc.status_code)
        return page(error=exc.message, status=exc.status_code)
    if isinstance(checkout, Reservation):  # a deal or a flash sale: written in a moment
        state, row = flash_selectors.wait_for_checkout(
            reservation_id=checkout.id, buyer=request.user, timeout=settings.FLASH_WAIT_SECONDS
        )
        if state != "written" or row is None or row.checkout is None:
            return redirect("orders:flash-reservation", reservation_id=checkout.id)
        checkout = row.checkout
    if form is None and cards.default_card(user=request.user) is not None:
        # Saved address and saved card: one tap pays; the done page waits for Stripe.
        try:
            intents.pay_with_saved_card(checkout=checkout, by=request.user)
        except ShopFeedError as exc:  # declined: the checkout stays open for the pay page
            messages.error(request, exc.message)
            return redirect("orders:checkout-pay", checkout_id=checkout.pk)
        return redirect("orders:checkout-done", checkout_id=checkout.pk)
    return redirect("orders:checkout-pay", checkout_id=checkout.pk)
