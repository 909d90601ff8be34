"""Stripe's webhook events: stored once when they arrive, then processed by their handlers
in a Celery task (and again by reconciliation if that was lost)."""

import logging
from collections.abc import Callable
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import Checkout, StripeEvent
from .refunds import record_refund_event
from .settlement import release_unpaid, settle

logger = logging.getLogger(__name__)

EventHandler = Callable[[dict], object]


def _on_succeeded(payload: dict) -> None:
    settle(payment_intent_id=payload["data"]["object"]["id"])


def _on_failed(payload: dict) -> None:
    release_unpaid(payment_intent_id=payload["data"]["object"]["id"], status=Checkout.Status.FAILED)


def _on_canceled(payload: dict) -> None:
    release_unpaid(
        payment_intent_id=payload["data"]["object"]["id"], status=Checkout.Status.CANCELLED
    )


# Event type -> handlers, run in order inside the event's transaction.
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


def record_stripe_event(*, event: dict) -> StripeEvent | None:
    """Store a verified event once and queue its processing; None if it was stored before."""
    from .tasks import process_stripe_event_task  # the task module imports this one

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


def process_stale_events(*, received_before: datetime, limit: int = 500) -> None:
    """Process events stored but never processed (their enqueue was lost, or they failed)."""
    stale_events = StripeEvent.objects.filter(
        processed_at__isnull=True, received_at__lte=received_before
    )
    for event_pk in stale_events.values_list("pk", flat=True)[:limit]:
        try:
            process_stripe_event(event_pk=event_pk)
        except Exception:
            logger.exception("stripe event %s still fails", event_pk)
