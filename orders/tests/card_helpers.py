"""Test helpers for saved cards: a card made at localstripe the way Stripe.js makes one, and
a card saved on a buyer's Customer without a payment (as a SetupIntent would)."""

from orders import gateway
from orders.cards import services as cards
from orders.models import SavedCard

from .payment_helpers import localstripe_call


def card_payment_method(number: str = "4242424242424242") -> str:
    """A card PaymentMethod at localstripe (Stripe.js creates it; the number never reaches us)."""
    pm = localstripe_call(
        "/v1/payment_methods",
        {
            "type": "card",
            "card[number]": number,
            "card[exp_month]": 12,
            "card[exp_year]": 2040,
            "card[cvc]": "123",
        },
    )
    return pm["id"]


def attach_card(user, number: str = "4242424242424242") -> SavedCard:
    """Save a card on the user's Customer directly (e.g. 4000000000000341: attaches, then
    every charge on it fails, so it could never be saved through a payment)."""
    profile = cards.ensure_payment_profile(user=user)
    card = gateway.save_payment_method(
        card_payment_method(number), customer=profile.stripe_customer_id
    )
    return SavedCard.objects.create(
        user=user,
        payment_method_id=card.id,
        brand=card.brand,
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
    )


def payment_intent(payment_intent_id: str) -> dict:
    return localstripe_call(f"/v1/payment_intents/{payment_intent_id}", method="GET")
