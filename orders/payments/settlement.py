"""Settling a checkout from what Stripe says about its payment: paid (stock kept, orders paid,
the ledger posted), or failed / cancelled (stock given back) (DESIGN.md 3, 4).

Stripe is the source of truth: every decision re-reads the PaymentIntent under the checkout's
row lock, so events may arrive late, twice or in any order and the result is the same.
"""

import logging
from collections import defaultdict

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from shops.models import Product

from .. import emails, gateway, signals, states
from ..cards import services as cards
from ..checkout import stock
from ..checkout.services import release_checkout
from ..errors import SoldOut
from ..ledger import accounting
from ..models import Checkout, Order, OrderEvent
from .intents import checkout_id_for, is_for
from .refunds import record_once, refund_decided, refund_due

logger = logging.getLogger(__name__)


def settle(
    *, payment_intent_id: str | None = None, checkout_id: int | None = None
) -> Checkout | None:
    """Mark a checkout paid if Stripe says its payment succeeded. Running it again changes nothing.

    Returns the checkout in whatever state it ends, or None if no checkout of ours matches.
    """
    if (payment_intent_id is None) == (checkout_id is None):
        raise TypeError("settle() takes payment_intent_id or checkout_id")
    if payment_intent_id is not None:
        checkout_id = checkout_id_for(payment_intent_id)
    if checkout_id is None:
        return None
    with transaction.atomic():
        checkout = Checkout.objects.select_for_update().filter(pk=checkout_id).first()
        if checkout is None:
            return None
        pi_id = payment_intent_id or checkout.payment_intent_id
        if not pi_id:
            return checkout
        pi = gateway.retrieve_payment_intent(pi_id)
        if is_for(checkout, pi):
            settle_locked(checkout, pi)
    return checkout


def settle_locked(checkout: Checkout, pi: gateway.PaymentIntentInfo) -> None:
    """Act on a freshly read PaymentIntent; the caller holds the checkout's row lock."""
    if pi.status != "succeeded":
        return
    if checkout.status == Checkout.Status.PAID:
        if checkout.payment_intent_id != pi.id:
            refund_due(checkout, pi, key=f"duplicate-refund-{pi.id}", reason="a second payment")
        return
    received = pi.amount_received
    if (pi.amount, received, pi.currency) != (
        checkout.total_amount,
        checkout.total_amount,
        checkout.currency,
    ):
        record_once(
            checkout,
            kind="payment_mismatch",
            message="The payment does not match the checkout total; left for staff.",
            data={"payment_intent_id": pi.id, "amount": received, "currency": pi.currency},
        )
        logger.error("PaymentIntent %s does not match checkout %s", pi.id, checkout.pk)
        return
    if checkout.status != Checkout.Status.OPEN:
        # Paid after the reservation was released: take the stock again, or give the money back.
        late_key = f"late-refund-checkout-{checkout.pk}"
        if refund_decided(checkout, late_key):
            refund_due(checkout, pi, key=late_key, reason="paid after the items sold out")
            return
        try:
            with transaction.atomic():
                _reserve_again(checkout)
        except SoldOut:
            if not checkout.payment_intent_id:
                checkout.payment_intent_id = pi.id
                checkout.save(update_fields=["payment_intent_id", "updated_at"])
            refund_due(checkout, pi, key=late_key, reason="paid after the items sold out")
            return
    _mark_paid(checkout, pi, received)


def _reserve_again(checkout: Checkout) -> None:
    wanted: dict[int, int] = defaultdict(int)
    for variant_id, quantity in Order.objects.filter(checkout=checkout).values_list(
        "items__variant_id", "items__quantity"
    ):
        if variant_id is not None:
            wanted[variant_id] += quantity
    for variant_id in sorted(wanted):  # id order, like start_checkout: no deadlocks
        stock.reserve(variant_id=variant_id, quantity=wanted[variant_id])


def _mark_paid(checkout: Checkout, pi: gateway.PaymentIntentInfo, received: int) -> None:
    now = timezone.now()
    reopened = checkout.status != Checkout.Status.OPEN
    checkout.status = Checkout.Status.PAID
    checkout.paid_at = now
    checkout.amount_received = received
    checkout.payment_intent_id = pi.id
    checkout.client_secret = checkout.client_secret or pi.client_secret
    checkout.save(
        update_fields=[
            "status",
            "paid_at",
            "amount_received",
            "payment_intent_id",
            "client_secret",
            "updated_at",
        ]
    )
    sold: dict[int, int] = defaultdict(int)
    for order in Order.objects.filter(checkout=checkout).select_related("shop").order_by("pk"):
        if order.status == Order.Status.CANCELLED and reopened:
            pass  # cancelled only by the reservation's expiry, and its stock is taken again
        elif order.status == Order.Status.PAID:
            continue
        else:
            states.check_transition(order, Order.Status.PAID)
        order.status = Order.Status.PAID
        order.paid_at = now
        order.cancelled_at = None
        order.save(update_fields=["status", "paid_at", "cancelled_at", "updated_at"])
        OrderEvent.objects.create(
            order=order,
            kind="paid",
            message="Payment received." + (" Stock reserved again." if reopened else ""),
            data={"payment_intent_id": pi.id},
        )
        accounting.post_sale(order)
        emails.order_placed(order)
        for product_id, quantity in order.items.values_list("variant__product_id", "quantity"):
            sold[product_id] += quantity
    for product_id in sorted(sold):
        Product.objects.filter(pk=product_id).update(sold_count=F("sold_count") + sold[product_id])
    checkout_id = checkout.pk
    # The card the buyer asked to keep is saved once the payment stands (a Stripe call, so
    # after commit); then the apps above orders hear of it.
    transaction.on_commit(
        lambda: cards.save_card_after_payment(checkout_id=checkout_id), robust=True
    )
    transaction.on_commit(
        lambda: signals.checkout_paid.send(sender=Checkout, checkout_id=checkout_id), robust=True
    )


def payment_failed(*, payment_intent_id: str, event_id: str = "") -> Checkout | None:
    """A card was declined. The checkout stays open, its stock held, for another card until
    it expires or its payment is cancelled: Stripe leaves the PaymentIntent waiting for one.

    Only what Stripe says now counts (events come late and out of order): a payment that has
    since succeeded is settled.
    """

    def note_decline(checkout: Checkout, pi: gateway.PaymentIntentInfo, current: bool) -> None:
        record_once(
            checkout,
            kind="payment_failed",
            message="A card was declined; the checkout stayed open for another card.",
            data={"payment_intent_id": pi.id, "event_id": event_id},
        )

    return _act_on_unpaid(payment_intent_id, note_decline)


def payment_canceled(*, payment_intent_id: str) -> Checkout | None:
    """A payment was cancelled: give the stock back if Stripe confirms it (DESIGN.md 4)."""

    def release(checkout: Checkout, pi: gateway.PaymentIntentInfo, current: bool) -> None:
        if current and pi.status == "canceled":
            if not checkout.payment_intent_id:
                checkout.payment_intent_id = pi.id
                checkout.save(update_fields=["payment_intent_id", "updated_at"])
            release_checkout(checkout_id=checkout.pk, status=Checkout.Status.CANCELLED)

    return _act_on_unpaid(payment_intent_id, release)


def _act_on_unpaid(payment_intent_id: str, on_open) -> Checkout | None:
    """Re-read the PaymentIntent under the checkout's lock: settle it if it succeeded after
    all, else, while the checkout is open, `on_open(checkout, pi, current)` (`current`: the
    PaymentIntent is the one the checkout uses, not one an earlier attempt left behind)."""
    checkout_id = checkout_id_for(payment_intent_id)
    if checkout_id is None:
        return None
    with transaction.atomic():
        checkout = Checkout.objects.select_for_update().filter(pk=checkout_id).first()
        if checkout is None or checkout.status == Checkout.Status.PAID:
            return checkout
        pi = gateway.retrieve_payment_intent(payment_intent_id)
        if not is_for(checkout, pi):
            return checkout
        if pi.status == "succeeded":
            settle_locked(checkout, pi)
        elif checkout.status == Checkout.Status.OPEN:
            on_open(checkout, pi, checkout.payment_intent_id in (None, pi.id))
    checkout.refresh_from_db()
    return checkout
