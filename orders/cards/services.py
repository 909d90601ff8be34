"""Saved cards for one-tap buying: a Stripe Customer per buyer, the cards kept on it.

Stripe holds the card; we keep its payment method id and a label (brand, last 4, expiry)
per buyer. A card is saved only when the buyer ticked "Save this card" for that payment,
and only once Stripe says the payment succeeded (orders.payments.settlement calls
save_card_after_payment once the payment is committed).
"""

import logging

from django.db import transaction

from shopfeed.errors import NotFound

from .. import gateway
from ..errors import IllegalTransition, PaymentError
from ..models import Checkout, PaymentProfile, SavedCard

logger = logging.getLogger(__name__)

SAVE_FLAG = "save_card"


def ensure_payment_profile(*, user) -> PaymentProfile:
    """The buyer's Stripe Customer, created once (key "customer-<user id>")."""
    profile = PaymentProfile.objects.filter(user=user).first()
    if profile is not None:
        return profile
    customer_id = gateway.create_customer(
        user_id=user.pk, email=user.email or "", idempotency_key=f"customer-{user.pk}"
    )
    # On Stripe the key returns the same Customer to a racing request; localstripe (no keys)
    # may make a second one, which then simply stays unused.
    profile, _ = PaymentProfile.objects.get_or_create(
        user=user, defaults={"stripe_customer_id": customer_id}
    )
    return profile


def list_saved_cards(*, user):
    return SavedCard.objects.filter(user=user)


def default_card(*, user) -> SavedCard | None:
    """The card one tap pays with: the one saved last."""
    if not getattr(user, "is_authenticated", False):
        return None
    return list_saved_cards(user=user).first()


def get_saved_card(*, user, card_id) -> SavedCard:
    """One of the user's own cards; anyone else's does not exist."""
    try:
        return SavedCard.objects.get(pk=int(card_id), user=user)
    except (SavedCard.DoesNotExist, TypeError, ValueError):
        raise NotFound("That saved card was not found.", code="no_such_card") from None


def request_card_saving(*, checkout: Checkout, by, save: bool = True) -> None:
    """The buyer ticked (or unticked) "Save this card" before paying this checkout."""
    if checkout.buyer_id != by.pk:
        raise NotFound("No such checkout.")
    if checkout.status != Checkout.Status.OPEN or not checkout.payment_intent_id:
        raise IllegalTransition("This checkout cannot be paid any more.")
    profile = ensure_payment_profile(user=by)
    gateway.prepare_to_save_card(
        checkout.payment_intent_id, customer=profile.stripe_customer_id, save=save
    )


def save_card_from_checkout(*, checkout_id: int) -> SavedCard | None:
    """Keep the card a paid checkout was paid with, if its buyer asked to. Safe to run twice."""
    checkout = Checkout.objects.filter(pk=checkout_id, status=Checkout.Status.PAID).first()
    if checkout is None or not checkout.payment_intent_id:
        return None
    return save_card_from_payment(
        user_id=checkout.buyer_id, payment_intent_id=checkout.payment_intent_id
    )


def request_card_saving_for_payment(*, payment_intent_id: str, by, save: bool = True) -> None:
    """ "Save this card" for a payment of the buyer's that is not a checkout (coins): the
    caller checked that the PaymentIntent is the buyer's own and still payable."""
    profile = ensure_payment_profile(user=by)
    gateway.prepare_to_save_card(payment_intent_id, customer=profile.stripe_customer_id, save=save)


def save_card_from_payment(*, user_id: int, payment_intent_id: str) -> SavedCard | None:
    """Keep the card a succeeded payment of this buyer was made with, if they asked to (the
    flag set by request_card_saving). Safe to run twice."""
    profile = PaymentProfile.objects.filter(user_id=user_id).first()
    if profile is None:
        return None  # never asked: asking creates the Customer
    pi = gateway.retrieve_payment_intent_payment(payment_intent_id)
    if pi.metadata.get(SAVE_FLAG) != "1" or not pi.payment_method:
        return None
    if pi.customer != profile.stripe_customer_id:
        logger.error("PaymentIntent %s is not on the buyer's Customer", pi.id)
        return None
    card = gateway.save_payment_method(pi.payment_method, customer=profile.stripe_customer_id)
    saved, _ = SavedCard.objects.update_or_create(
        payment_method_id=card.id,
        user_id=user_id,
        defaults={
            "brand": card.brand,
            "last4": card.last4,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
        },
    )
    return saved


def remove_saved_card(*, user, card_id) -> None:
    """Forget one of the user's cards here and detach it from their Customer at Stripe."""
    with transaction.atomic():
        card = get_saved_card(user=user, card_id=card_id)
        pm_id = card.payment_method_id
        card.delete()
    # After the row is gone one tap can no longer use it; a failed detach only leaves the
    # card on a Customer nobody charges.
    try:
        gateway.detach_payment_method(pm_id)
    except PaymentError:
        logger.warning("could not detach payment method %s at Stripe", pm_id)


def save_card_after_payment(*, checkout_id: int) -> None:
    try:
        save_card_from_checkout(checkout_id=checkout_id)
    except PaymentError:
        # The payment stands; only the card is not kept (the buyer can tick it next time).
        logger.exception("could not save the card of checkout %s", checkout_id)


def save_card_after_other_payment(*, user_id: int, payment_intent_id: str) -> None:
    """After commit of a succeeded payment that is not a checkout (a coin purchase)."""
    try:
        save_card_from_payment(user_id=user_id, payment_intent_id=payment_intent_id)
    except PaymentError:
        logger.exception("could not save the card of payment %s", payment_intent_id)
