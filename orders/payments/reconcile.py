"""Expiry, the payment sweep and reconciliation: release unpaid checkouts past their time, and
ask Stripe about what a lost webhook or a lost task left open, so no order stays stuck
(DESIGN.md 4, 9)."""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import gateway
from ..checkout.services import release_checkout
from ..errors import PaymentError
from ..models import Checkout
from .events import catch_up_events, process_stale_events
from .intents import MONEY_MOVING, is_for
from .refunds import retry_due_refunds
from .settlement import settle_locked

logger = logging.getLogger(__name__)

# Payments of apps above orders (gifts' coin purchases) reconciled with the checkouts': each
# takes `now` and returns how many payments it settled. Registered at startup.
Reconciler = Callable[[datetime], int]
_reconcilers: list[Reconciler] = []


# Their counterparts run by the payment sweep (every few seconds): cheap questions only.
_sweepers: list[Reconciler] = []


def register_reconciler(reconciler: Reconciler, *, sweeper: Reconciler | None = None) -> None:
    if reconciler not in _reconcilers:
        _reconcilers.append(reconciler)
    if sweeper is not None and sweeper not in _sweepers:
        _sweepers.append(sweeper)


def _run_registered(found: list[Reconciler], now: datetime) -> int:
    settled = 0
    for reconciler in found:
        try:
            settled += reconciler(now)
        except Exception:  # one app's failure must not stop the checkouts' reconciliation
            logger.exception("reconciler %s failed; will retry", reconciler)
    return settled


def _run_registered_reconcilers(now: datetime) -> int:
    return _run_registered(_reconcilers, now)


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
                settle_locked(checkout, pi)
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
                        settle_locked(checkout, pi)
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
        if not is_for(checkout, pi):
            return checkout
        if pi.status == "succeeded":
            settle_locked(checkout, pi)
        elif pi.status == "canceled":
            release_checkout(checkout_id=checkout.pk, status=Checkout.Status.CANCELLED)
    checkout.refresh_from_db()
    return checkout


def reconcile_payments(*, now: datetime | None = None, limit: int = 500) -> int:
    """So that a lost webhook never leaves an order stuck. Returns how many checkouts got paid."""
    now = now or timezone.now()
    threshold = now - timedelta(minutes=settings.RECONCILE_AFTER_MINUTES)
    # Events stored but never processed (the enqueue was lost).
    process_stale_events(received_before=threshold, limit=limit)
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
    retry_due_refunds()
    _run_registered_reconcilers(now)
    return paid


def sweep_payments(*, now: datetime | None = None) -> int:
    """Settle, within seconds, what a crash left unsettled (beat runs it every few seconds).

    Two cheap questions, so that a paid checkout never waits for reconciliation: events we
    stored whose task never finished (its worker died holding it, and a Redis broker gives the
    message back only after its visibility timeout; or the broker restarted empty), and
    payments Stripe reported by a webhook that never reached us (one list call, and only
    while checkouts are open). Anything younger than PAYMENT_SWEEP_AFTER_SECONDS is left to
    the normal path. Returns how many events were processed here.
    """
    now = now or timezone.now()
    due = now - timedelta(seconds=settings.PAYMENT_SWEEP_AFTER_SECONDS)
    # Events whose task failed are on their retries (and reconciliation's), not this.
    processed = process_stale_events(received_before=due, include_failed=False)
    try:
        processed += _catch_up_missed_payments(due=due)
    except PaymentError:
        logger.exception("could not ask Stripe for missed payment events; will retry")
    processed += _run_registered(_sweepers, now)
    return processed


# Stripe's clock and ours may differ a little; events are looked for this much earlier.
_CLOCK_SKEW = timedelta(minutes=1)


def _catch_up_missed_payments(*, due: datetime) -> int:
    open_checkouts = list(
        Checkout.objects.filter(status=Checkout.Status.OPEN, created_at__lte=due)
        .order_by("created_at")
        .values_list("pk", "payment_intent_id", "created_at")[:5000]
    )
    if not open_checkouts:
        return 0  # nothing could have been paid: no call to Stripe
    payment_intents = {pi_id for _, pi_id, _ in open_checkouts if pi_id}
    checkout_ids = {str(pk) for pk, _, _ in open_checkouts}
    fetched = gateway.list_events(
        type="payment_intent.succeeded",
        created_from=int((open_checkouts[0][2] - _CLOCK_SKEW).timestamp()),
        created_to=int(due.timestamp()),
    )

    def ours(event: dict) -> bool:
        # One of our open checkouts' PaymentIntents, or one made for it that we never stored.
        pi = event.get("data", {}).get("object") or {}
        return pi.get("id") in payment_intents or (
            str((pi.get("metadata") or {}).get("checkout_id", "")) in checkout_ids
        )

    return catch_up_events(fetched=[e for e in fetched if ours(e)])
