"""Payments: a checkout's PaymentIntent, settling it from what Stripe says, releasing unpaid
reservations, reconciliation, and the handlers of Stripe's webhook events (DESIGN.md 3, 4, 9).

Stripe is the source of truth: every decision re-reads the PaymentIntent under the checkout's
row lock, so events may arrive late, twice or in any order and the result is the same.
"""

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from shops.models import Product

from .. import emails, gateway, signals, states
from ..checkout import stock
from ..checkout.services import release_checkout
from ..errors import IllegalTransition, PaymentError, SoldOut
from ..ledger import accounting
from ..models import Checkout, Order, OrderEvent, Refund, StripeEvent

logger = logging.getLogger(__name__)

# Money has been taken or is being taken: a reservation in one of these is never released.
MONEY_MOVING = frozenset({"succeeded", "processing", "requires_capture"})

# OrderEvent kinds that make a refund of a whole payment durable before Stripe is called.
REFUND_DUE = "payment_refund_due"
REFUNDED = "payment_refunded"


# --- the PaymentIntent -----------------------------------------------------------------------


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


def _checkout_id_for(payment_intent_id: str) -> int | None:
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


def _is_for(checkout: Checkout, pi: gateway.PaymentIntentInfo) -> bool:
    if pi.metadata.get("checkout_id") == str(checkout.pk):
        return True
    logger.error("PaymentIntent %s does not belong to checkout %s", pi.id, checkout.pk)
    return False


# --- settling --------------------------------------------------------------------------------


def settle(
    *, payment_intent_id: str | None = None, checkout_id: int | None = None
) -> Checkout | None:
    """Mark a checkout paid if Stripe says its payment succeeded. Running it again changes nothing.

    Returns the checkout in whatever state it ends, or None if no checkout of ours matches.
    """
    if (payment_intent_id is None) == (checkout_id is None):
        raise TypeError("settle() takes payment_intent_id or checkout_id")
    if checkout_id is None:
        checkout_id = _checkout_id_for(payment_intent_id)
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
        if _is_for(checkout, pi):
            _settle_locked(checkout, pi)
    return checkout


mark_paid = settle


def _settle_locked(checkout: Checkout, pi: gateway.PaymentIntentInfo) -> None:
    """Act on a freshly read PaymentIntent; the caller holds the checkout's row lock."""
    if pi.status != "succeeded":
        return
    if checkout.status == Checkout.Status.PAID:
        if checkout.payment_intent_id != pi.id:
            _refund_due(checkout, pi, key=f"duplicate-refund-{pi.id}", reason="a second payment")
        return
    # localstripe leaves amount_received out; on Stripe a succeeded automatic-capture
    # PaymentIntent has amount_received == amount.
    received = pi.amount_received or pi.amount
    if (pi.amount, received, pi.currency) != (
        checkout.total_amount,
        checkout.total_amount,
        checkout.currency,
    ):
        _record_once(
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
        if _refund_decided(checkout, late_key):
            _refund_due(checkout, pi, key=late_key, reason="paid after the items sold out")
            return
        try:
            with transaction.atomic():
                _reserve_again(checkout)
        except SoldOut:
            if not checkout.payment_intent_id:
                checkout.payment_intent_id = pi.id
                checkout.save(update_fields=["payment_intent_id", "updated_at"])
            _refund_due(checkout, pi, key=late_key, reason="paid after the items sold out")
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
    transaction.on_commit(
        lambda: signals.checkout_paid.send(sender=Checkout, checkout_id=checkout_id), robust=True
    )


# --- refunds of a whole payment (late or duplicate) --------------------------------------------


def _record_once(checkout: Checkout, *, kind: str, message: str, data: dict) -> None:
    orders = list(Order.objects.filter(checkout=checkout).order_by("pk"))
    if OrderEvent.objects.filter(order__in=orders, kind=kind, data=data).exists():
        return
    OrderEvent.objects.bulk_create(
        [OrderEvent(order=o, kind=kind, message=message, data=data) for o in orders]
    )


def _refund_decided(checkout: Checkout, key: str) -> bool:
    return OrderEvent.objects.filter(
        order__checkout=checkout, kind=REFUND_DUE, data__idempotency_key=key
    ).exists()


def _refund_due(checkout: Checkout, pi: gateway.PaymentIntentInfo, *, key: str, reason: str):
    """Record (durably, with the checkout) that a payment must go back; refund after commit.

    The record comes first so that a retry never sells stock for money already returned.
    """
    if not _refund_decided(checkout, key):
        _record_once(
            checkout,
            kind=REFUND_DUE,
            message=f"Payment refunded in full: {reason}.",
            data={
                "idempotency_key": key,
                "payment_intent_id": pi.id,
                "amount": pi.amount_received or pi.amount,
            },
        )
    checkout_id = checkout.pk
    transaction.on_commit(lambda: refund_due_payments(checkout_id=checkout_id), robust=True)


@transaction.atomic
def refund_due_payments(*, checkout_id: int) -> int:
    """Send the refunds decided for this checkout that Stripe has not made yet; returns how many."""
    checkout = Checkout.objects.select_for_update().get(pk=checkout_id)
    events = OrderEvent.objects.filter(order__checkout=checkout, kind__in=[REFUND_DUE, REFUNDED])
    done = {e.data.get("idempotency_key") for e in events if e.kind == REFUNDED}
    due = {e.data["idempotency_key"]: e.data for e in events if e.kind == REFUND_DUE}
    sent = 0
    for key, data in due.items():
        if key in done:
            continue
        refund = gateway.create_refund(
            payment_intent_id=data["payment_intent_id"],
            amount=data["amount"],
            idempotency_key=key,
            metadata={"checkout_id": str(checkout.pk), "refund_key": key},
        )
        _record_once(
            checkout,
            kind=REFUNDED,
            message="The payment was refunded.",
            data={"idempotency_key": key, "stripe_refund_id": refund.id, "amount": refund.amount},
        )
        sent += 1
    return sent


def _retry_due_refunds() -> int:
    events = OrderEvent.objects.filter(kind__in=[REFUND_DUE, REFUNDED]).values_list(
        "kind", "data", "order__checkout_id"
    )
    done = {data.get("idempotency_key") for kind, data, _ in events if kind == REFUNDED}
    checkouts = {
        cid
        for kind, data, cid in events
        if kind == REFUND_DUE and data["idempotency_key"] not in done
    }
    sent = 0
    for checkout_id in sorted(checkouts):
        try:
            sent += refund_due_payments(checkout_id=checkout_id)
        except PaymentError:
            logger.exception("refund for checkout %s failed; will retry", checkout_id)
    return sent


# --- failures, expiry, reconciliation --------------------------------------------------------


# What Stripe must say now for a failure / cancellation event to release the stock (a failed
# attempt returns the PaymentIntent to requires_payment_method).
_RELEASE_WHEN = {
    Checkout.Status.FAILED: frozenset({"requires_payment_method", "canceled"}),
    Checkout.Status.CANCELLED: frozenset({"canceled"}),
}


def release_unpaid(*, payment_intent_id: str, status: str) -> Checkout | None:
    """A payment failed or was cancelled: give the stock back if Stripe confirms it is unpaid."""
    if status not in _RELEASE_WHEN:
        raise ValueError(f"release_unpaid() status must be failed or cancelled, not {status!r}")
    checkout_id = _checkout_id_for(payment_intent_id)
    if checkout_id is None:
        return None
    with transaction.atomic():
        checkout = Checkout.objects.select_for_update().filter(pk=checkout_id).first()
        if checkout is None or checkout.status not in (
            Checkout.Status.OPEN,
            Checkout.Status.EXPIRED,
            Checkout.Status.FAILED,
            Checkout.Status.CANCELLED,
        ):
            return checkout
        if checkout.payment_intent_id and checkout.payment_intent_id != payment_intent_id:
            return checkout  # about a PaymentIntent this checkout no longer uses
        pi = gateway.retrieve_payment_intent(payment_intent_id)
        if not _is_for(checkout, pi):
            return checkout
        if pi.status == "succeeded":
            _settle_locked(checkout, pi)
        elif pi.status in _RELEASE_WHEN[status] and checkout.status == Checkout.Status.OPEN:
            if not checkout.payment_intent_id:
                checkout.payment_intent_id = pi.id
                checkout.save(update_fields=["payment_intent_id", "updated_at"])
            release_checkout(checkout_id=checkout.pk, status=status)
    checkout.refresh_from_db()
    return checkout


def expire_checkout(*, checkout_id: int, now: datetime | None = None) -> bool:
    """Release an unpaid checkout past its time, cancelling its PaymentIntent first.

    True if its stock went back. A payment that succeeded meanwhile is settled instead.
    """
    now = now or timezone.now()
    with transaction.atomic():
        checkout = Checkout.objects.select_for_update().filter(pk=checkout_id).first()
        if checkout is None or checkout.status != Checkout.Status.OPEN:
            return False
        if checkout.expires_at > now:
            return False
        if checkout.payment_intent_id:
            pi = gateway.retrieve_payment_intent(checkout.payment_intent_id)
            if pi.status == "succeeded":
                _settle_locked(checkout, pi)
                return False
            if pi.status in MONEY_MOVING:
                return False  # money in flight: decided by its webhook or reconciliation
            if pi.status != "canceled":
                try:
                    pi = gateway.cancel_payment_intent(
                        pi.id, idempotency_key=f"cancel-checkout-{checkout.pk}"
                    )
                except PaymentError:
                    # Paid or cancelled in the meantime; ask again and act on what is true now.
                    pi = gateway.retrieve_payment_intent(pi.id)
                    if pi.status == "succeeded":
                        _settle_locked(checkout, pi)
                        return False
                    if pi.status != "canceled":
                        raise
        return release_checkout(checkout_id=checkout.pk, status=Checkout.Status.EXPIRED)


def release_expired_checkouts(*, now: datetime | None = None, limit: int = 500) -> int:
    """Release every open checkout past its time; returns how many were released."""
    now = now or timezone.now()
    ids = list(
        Checkout.objects.filter(status=Checkout.Status.OPEN, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    released = 0
    for checkout_id in ids:
        try:
            released += expire_checkout(checkout_id=checkout_id, now=now)
        except PaymentError:
            logger.exception("could not expire checkout %s; will retry", checkout_id)
    return released


def reconcile_checkout(*, checkout_id: int) -> Checkout | None:
    """Ask Stripe about an open checkout's payment: settle it, or release it if cancelled."""
    with transaction.atomic():
        checkout = Checkout.objects.select_for_update().filter(pk=checkout_id).first()
        if checkout is None or checkout.status != Checkout.Status.OPEN:
            return checkout
        if not checkout.payment_intent_id:
            return checkout
        pi = gateway.retrieve_payment_intent(checkout.payment_intent_id)
        if not _is_for(checkout, pi):
            return checkout
        if pi.status == "succeeded":
            _settle_locked(checkout, pi)
        elif pi.status == "canceled":
            release_checkout(checkout_id=checkout.pk, status=Checkout.Status.CANCELLED)
    checkout.refresh_from_db()
    return checkout


def reconcile_payments(*, now: datetime | None = None, limit: int = 500) -> int:
    """So that a lost webhook never leaves an order stuck. Returns how many checkouts got paid."""
    now = now or timezone.now()
    threshold = now - timedelta(minutes=settings.RECONCILE_AFTER_MINUTES)
    # Events stored but never processed (the enqueue was lost).
    stale_events = StripeEvent.objects.filter(processed_at__isnull=True, received_at__lte=threshold)
    for event_pk in stale_events.values_list("pk", flat=True)[:limit]:
        try:
            process_stripe_event(event_pk=event_pk)
        except Exception:
            logger.exception("stripe event %s still fails", event_pk)
    ids = list(
        Checkout.objects.filter(
            status=Checkout.Status.OPEN,
            created_at__lte=threshold,
            payment_intent_id__isnull=False,
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    paid = 0
    for checkout_id in ids:
        try:
            checkout = reconcile_checkout(checkout_id=checkout_id)
        except PaymentError:
            logger.exception("could not reconcile checkout %s; will retry", checkout_id)
            continue
        paid += checkout is not None and checkout.status == Checkout.Status.PAID
    _retry_due_refunds()
    return paid


# --- refunds recorded from Stripe ------------------------------------------------------------

_REFUND_STATUS = {
    "succeeded": Refund.Status.SUCCEEDED,
    "failed": Refund.Status.FAILED,
    "canceled": Refund.Status.FAILED,
    "pending": Refund.Status.PENDING,
    "requires_action": Refund.Status.PENDING,
}


def record_refund_event(payload: dict) -> None:
    """charge.refunded / refund.* : note Stripe's status on our Refund row when we have one."""
    obj = payload.get("data", {}).get("object", {}) or {}
    if obj.get("object") == "charge":
        refunds = (obj.get("refunds") or {}).get("data") or []
    else:
        refunds = [obj]
    for data in refunds:
        _record_refund(data)


def _record_refund(data: dict) -> None:
    stripe_id = data.get("id")
    if not stripe_id:
        return
    with transaction.atomic():
        refund = Refund.objects.select_for_update().filter(stripe_refund_id=stripe_id).first()
        if refund is None:
            ours = str((data.get("metadata") or {}).get("refund_id", ""))
            if ours.isdigit() and Refund.objects.filter(pk=int(ours)).exists():
                # Ours, still in flight: the refund service records Stripe's answer (and posts
                # the ledger) under the same idempotency key; taking the row here would skip it.
                logger.info("refund %s reported before its row was recorded", ours)
            return
        status = _REFUND_STATUS.get(data.get("status"), refund.status)
        if refund.status != Refund.Status.PENDING and status == Refund.Status.PENDING:
            status = refund.status  # never back to pending
        if status != refund.status:
            refund.status = status
            refund.save(update_fields=["status", "updated_at"])


# --- webhook events --------------------------------------------------------------------------

EventHandler = Callable[[dict], object]


def _on_succeeded(payload: dict) -> None:
    settle(payment_intent_id=payload["data"]["object"]["id"])


def _on_failed(payload: dict) -> None:
    release_unpaid(payment_intent_id=payload["data"]["object"]["id"], status=Checkout.Status.FAILED)


def _on_canceled(payload: dict) -> None:
    release_unpaid(
        payment_intent_id=payload["data"]["object"]["id"], status=Checkout.Status.CANCELLED
    )


# Event type -> handlers, run in order inside the event's transaction. Other modules plug in
# with register_event_handler (each handler must ignore objects that are not its own).
EVENT_HANDLERS: dict[str, list[EventHandler]] = {
    "payment_intent.succeeded": [_on_succeeded],
    "payment_intent.payment_failed": [_on_failed],
    "payment_intent.canceled": [_on_canceled],
    "charge.refunded": [record_refund_event],
    "charge.refund.updated": [record_refund_event],
    "refund.created": [record_refund_event],
    "refund.updated": [record_refund_event],
    "refund.failed": [record_refund_event],
}


def register_event_handler(event_type: str, handler: EventHandler, *, replace=False) -> None:
    handlers = EVENT_HANDLERS.setdefault(event_type, [])
    if replace:
        handlers.clear()
    if handler not in handlers:
        handlers.append(handler)


def record_stripe_event(*, event: dict) -> StripeEvent | None:
    """Store a verified event once and queue its processing; None if it was stored before."""
    from .tasks import process_stripe_event_task

    try:
        with transaction.atomic():
            stored = StripeEvent.objects.create(
                event_id=event["id"], type=event["type"], payload=event
            )
            transaction.on_commit(lambda: process_stripe_event_task.delay(stored.pk), robust=True)
    except IntegrityError:
        return None
    return stored


def process_stripe_event(*, event_pk: int) -> bool:
    """Run an event's handlers once; False if it was processed already (or is unknown)."""
    try:
        with transaction.atomic():
            event = StripeEvent.objects.select_for_update().filter(pk=event_pk).first()
            if event is None or event.processed_at is not None:
                return False
            for handler in EVENT_HANDLERS.get(event.type, []):
                handler(event.payload)
            event.processed_at = timezone.now()
            event.error = ""
            event.save(update_fields=["processed_at", "error"])
    except Exception as exc:
        StripeEvent.objects.filter(pk=event_pk, processed_at__isnull=True).update(
            error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        raise
    return True


# --- one tap with a saved card ---------------------------------------------------------------


def pay_with_saved_card(
    *, checkout: Checkout, by, card_id: int | None = None
) -> gateway.PaymentIntentInfo:
    """Pay the buyer's open checkout with their saved card (the last saved, or `card_id`).

    Stripe is asked from the server; the order still becomes paid only from the webhook (or
    reconciliation). Raises NotFound for someone else's checkout or card, IllegalTransition
    when the checkout is closed, PaymentError when the card is declined or needs the buyer's
    bank to confirm (both leave the checkout open for the payment page).
    """
    from shopfeed.errors import NotFound

    from ..cards import services as cards

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
