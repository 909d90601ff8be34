"""A checkout's PaymentIntent: create it once, take another card after a decline, pay it with
a saved card (or, on localstripe, the card the page tokenised), and find the checkout a
PaymentIntent belongs to."""

import logging
import re
from dataclasses import dataclass

from django.utils import timezone

from shopfeed.errors import NotFound

from .. import gateway
from ..cards import services as cards
from ..errors import CardDeclined, IllegalTransition, PaymentError
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


@dataclass(frozen=True)
class PaymentPage:
    checkout: Checkout
    # The last card was declined; the buyer may try another until the reservation expires.
    declined: bool = False


def prepare_payment(*, checkout: Checkout) -> PaymentPage:
    """What the pay page needs: the checkout's PaymentIntent, and whether a card was declined.

    Raises PaymentError when Stripe refuses, IllegalTransition when the checkout is closed.
    """
    had_one = bool(checkout.payment_intent_id)
    checkout = ensure_payment_intent(checkout=checkout)
    if not had_one:
        return PaymentPage(checkout)
    assert checkout.payment_intent_id, "ensure_payment_intent stores one"
    try:
        pi = gateway.retrieve_payment_intent(checkout.payment_intent_id)
    except PaymentError:
        logger.warning("could not read PaymentIntent %s", checkout.payment_intent_id)
        return PaymentPage(checkout)  # the form still works; only the notice is missing
    return PaymentPage(checkout, declined=pi.declined)


_ATTEMPT = re.compile(r"checkout-\d+-attempt-(\d+)")


def attempt_key(checkout_pk: int, attempt: int) -> str:
    """The idempotency key of a checkout's payment attempt (the first is "checkout-<id>")."""
    first = f"checkout-{checkout_pk}"
    return first if attempt == 1 else f"{first}-attempt-{attempt}"


def _attempt_of(key: str | None) -> int:
    match = _ATTEMPT.fullmatch(key or "")
    return int(match[1]) if match else 1


def ready_for_another_card(*, checkout: Checkout) -> Checkout:
    """The open checkout, ready for the card about to be confirmed.

    After a declined card the next try is a new payment attempt, with idempotency keys of its
    own (Stripe answers a reused key with its first answer, the decline included), stored
    before any call. Stripe confirms the same PaymentIntent again; where that is impossible
    (localstripe) the attempt gets a PaymentIntent of its own and the old one is cancelled.
    """
    if not checkout.payment_intent_id:
        raise PaymentError("This checkout has no payment to try again.")
    pi = gateway.retrieve_payment_intent(checkout.payment_intent_id)
    if not pi.declined:
        return checkout
    key = attempt_key(checkout.pk, _attempt_of(checkout.idempotency_key) + 1)
    started = Checkout.objects.filter(
        pk=checkout.pk,
        status=Checkout.Status.OPEN,
        payment_intent_id=pi.id,
        idempotency_key=checkout.idempotency_key,
    ).update(idempotency_key=key, updated_at=timezone.now())
    checkout.refresh_from_db()
    if not started:
        return checkout  # closed meanwhile, or another request started this attempt
    fresh = gateway.payment_intent_for_another_card(pi.id, idempotency_key=key)
    if fresh.id == pi.id:
        return checkout
    stored = Checkout.objects.filter(
        pk=checkout.pk, status=Checkout.Status.OPEN, payment_intent_id=pi.id
    ).update(
        payment_intent_id=fresh.id, client_secret=fresh.client_secret, updated_at=timezone.now()
    )
    # Whichever one the checkout does not use must never be charged.
    surplus = pi.id if stored else fresh.id
    try:
        gateway.cancel_payment_intent(surplus, idempotency_key=f"cancel-{surplus}")
    except PaymentError:
        logger.warning("could not cancel the PaymentIntent %s left behind", surplus)
    checkout.refresh_from_db()
    return checkout


def _open_for(checkout: Checkout, by) -> Checkout:
    if checkout.buyer_id != by.pk:
        raise NotFound("No such checkout.")
    checkout = ensure_payment_intent(checkout=checkout)
    if checkout.status != Checkout.Status.OPEN:
        raise IllegalTransition("This checkout cannot be paid any more.")
    return ready_for_another_card(checkout=checkout)


def confirm_tokenised_card(*, checkout: Checkout, by, payment_method: str):
    """localstripe only (development, tests): pay with the card the page tokenised.

    On Stripe, Stripe.js confirms the card itself. The order still becomes paid only from the
    webhook (or reconciliation). Raises CardDeclined for a refused card (the checkout stays
    open for another), IllegalTransition when the checkout is closed.
    """
    checkout = _open_for(checkout, by)
    return gateway.confirm_card_on_local_stripe(checkout=checkout, payment_method=payment_method)


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
    when the checkout is closed, CardDeclined when the card is declined and PaymentError when
    the buyer's bank wants to confirm (both leave the checkout open for the payment page).
    """
    if checkout.buyer_id != by.pk:
        raise NotFound("No such checkout.")
    if card_id is None:
        card = cards.default_card(user=by)
        if card is None:
            raise NotFound("You have no saved card.", code="no_saved_card")
    else:
        card = cards.get_saved_card(user=by, card_id=card_id)
    checkout = _open_for(checkout, by)
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
        raise CardDeclined()
    return pi
