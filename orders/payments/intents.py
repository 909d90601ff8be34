"""A checkout's PaymentIntent: create it once, pay it with a saved card, and find the checkout
a PaymentIntent belongs to."""

import logging

from django.utils import timezone

from shopfeed.errors import NotFound

from .. import gateway
from ..cards import services as cards
from ..errors import IllegalTransition, PaymentError
from ..models import Checkout

logger = logging.getLogger(__name__)

# Money has been taken or is being taken: a reservation in one of these is never released.
MONEY_MOVING = frozenset({"succeeded", "processing", "requires_capture"})


def ensure_payment_intent(*, checkout: Checkout) -> Checkout:
    """Give the checkout its PaymentIntent, once. Call it outside the reservation's transaction.

    Raises PaymentError when Stripe refuses, IllegalTransition when the checkout is closed.
    """
    checkout.refresh_from_db()
    if checkout.payment_intent_id:
        return checkout
    if checkout.status != Checkout.Status.OPEN:
        raise IllegalTransition("This checkout has expired. Please check out again.")
    pi = gateway.create_payment_intent(
        amount=checkout.total_amount,
        currency=checkout.currency,
        idempotency_key=checkout.idempotency_key or f"checkout-{checkout.pk}",
        metadata={"checkout_id": str(checkout.pk)},
    )
    stored = Checkout.objects.filter(pk=checkout.pk, payment_intent_id__isnull=True).update(
        payment_intent_id=pi.id, client_secret=pi.client_secret, updated_at=timezone.now()
    )
    checkout.refresh_from_db()
    if not stored and checkout.payment_intent_id != pi.id:
        # Another request stored its PaymentIntent first. Stripe's idempotency key makes that
        # the same one; a server without keys (localstripe) made a second: cancel it.
        try:
            gateway.cancel_payment_intent(pi.id, idempotency_key=f"cancel-{pi.id}")
        except PaymentError:
            logger.warning("could not cancel the surplus PaymentIntent %s", pi.id)
    return checkout


def checkout_id_for(payment_intent_id: str) -> int | None:
    """Our checkout for a PaymentIntent: the stored id, else the PaymentIntent's metadata."""
    pk = (
        Checkout.objects.filter(payment_intent_id=payment_intent_id)
        .values_list("pk", flat=True)
        .first()
    )
    if pk is not None:
        return pk
    pi = gateway.retrieve_payment_intent(payment_intent_id)
    raw = pi.metadata.get("checkout_id", "")
    return int(raw) if str(raw).isdigit() else None


def is_for(checkout: Checkout, pi: gateway.PaymentIntentInfo) -> bool:
    if pi.metadata.get("checkout_id") == str(checkout.pk):
        return True
    logger.error("PaymentIntent %s does not belong to checkout %s", pi.id, checkout.pk)
    return False


def pay_with_saved_card(
    *, checkout: Checkout, by, card_id: int | None = None
) -> gateway.PaymentIntentInfo:
    """Pay the buyer's open checkout with their saved card (the last saved, or `card_id`).

    Stripe is asked from the server; the order still becomes paid only from the webhook (or
    reconciliation). Raises NotFound for someone else's checkout or card, IllegalTransition
    when the checkout is closed, PaymentError when the card is declined or needs the buyer's
    bank to confirm (both leave the checkout open for the payment page).
    """
    if checkout.buyer_id != by.pk:
        raise NotFound("No such checkout.")
    if card_id is None:
        card = cards.default_card(user=by)
        if card is None:
            raise NotFound("You have no saved card.", code="no_saved_card")
    else:
        card = cards.get_saved_card(user=by, card_id=card_id)
    checkout = ensure_payment_intent(checkout=checkout)
    if checkout.status != Checkout.Status.OPEN:
        raise IllegalTransition("This checkout cannot be paid any more.")
    profile = cards.ensure_payment_profile(user=by)
    key = checkout.idempotency_key or f"checkout-{checkout.pk}"
    assert checkout.payment_intent_id is not None  # ensure_payment_intent made one
    pi = gateway.confirm_with_saved_card(
        checkout.payment_intent_id,
        customer=profile.stripe_customer_id,
        payment_method=card.payment_method_id,
        idempotency_key=f"{key}-saved-card-{card.pk}",
    )
    if pi.status == "requires_action":
        raise PaymentError("Your bank wants to confirm this payment: finish it below.")
    if pi.status not in MONEY_MOVING:
        raise PaymentError("Your saved card was declined. Pay with another card.")
    return pi
