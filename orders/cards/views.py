"""Saved cards in pages: "Save this card" on the payment page, paying with a saved card, and
the buyer's list of saved cards (/orders/cards/). Rules live in orders.cards.services and
orders.payments.intents.pay_with_saved_card."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from shopfeed.errors import ShopFeedError

from ..errors import CardDeclined
from ..models import Checkout
from ..payments import intents
from . import services as cards


@login_required
@require_POST
def checkout_save_card(request, checkout_id):
    """Asked by checkout.js just before the card is confirmed, when the box is ticked."""
    checkout = get_object_or_404(Checkout, pk=checkout_id, buyer=request.user)
    save = request.POST.get("save", "1") == "1"
    try:
        cards.request_card_saving(checkout=checkout, by=request.user, save=save)
    except ShopFeedError as exc:
        return JsonResponse({"detail": exc.message, "code": exc.code}, status=exc.status_code)
    return JsonResponse({"save": save})


@login_required
@require_POST
def checkout_pay_saved(request, checkout_id):
    """Pay with the saved card; the done page waits for Stripe's confirmation."""
    checkout = get_object_or_404(Checkout, pk=checkout_id, buyer=request.user)
    try:
        intents.pay_with_saved_card(
            checkout=checkout, by=request.user, card_id=request.POST.get("card_id") or None
        )
    except CardDeclined:  # the checkout stays open; the pay page says so and offers the form
        return redirect("orders:checkout-pay", checkout_id=checkout.pk)
    except ShopFeedError as exc:  # e.g. the bank wants to confirm: the checkout stays open
        messages.error(request, exc.message)
        return redirect("orders:checkout-pay", checkout_id=checkout.pk)
    return redirect("orders:checkout-done", checkout_id=checkout.pk)


@login_required
@require_GET
def saved_cards(request):
    return render(
        request,
        "orders/saved_cards.html",
        {"cards": list(cards.list_saved_cards(user=request.user))},
    )


@login_required
@require_POST
def saved_card_remove(request, card_id):
    try:
        cards.remove_saved_card(user=request.user, card_id=card_id)
    except ShopFeedError as exc:
        messages.error(request, exc.message)
        return render(
            request,
            "orders/saved_cards.html",
            {"cards": list(cards.list_saved_cards(user=request.user))},
            status=exc.status_code,
        )
    messages.success(request, "The card was removed.")
    return redirect("orders:saved-cards")
