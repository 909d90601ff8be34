"""Stripe's webhook events: stored once when they arrive, then processed by their handlers
in a Celery task (and again by the payment sweep or reconciliation if that was lost)."""

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import StripeEvent
from .refunds import record_refund_event
from .settlement import payment_canceled, payment_failed, settle

logger = logging.getLogger(__name__)

EventHandler = Callable[[dict], object]


def _on_succeeded(payload: dict) -> None:
    settle(payment_intent_id=payload["data"]["object"]["id"])


def _on_failed(payload: dict) -> None:
    payment_failed(payment_intent_id=payload["data"]["object"]["id"], event_id=payload["id"])


def _on_canceled(payload: dict) -> None:
    payment_canceled(payment_intent_id=payload["data"]["object"]["id"])


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


def register_event_handler(event_type: str, handler: EventHandler) -> None:
    """An app above orders handles an event type too (gifts' coin purchases: its AppConfig.
    ready()). Each handler must ignore objects that are not its own and be safe to run twice."""
    handlers = EVENT_HANDLERS.setdefault(event_type, [])
    if handler not in handlers:
        handlers.append(handler)


def _store(event: dict) -> StripeEvent | None:
    try:
        with transaction.atomic():
            return StripeEvent.objects.create(
                event_id=event["id"], type=event["type"], payload=event
            )
    except IntegrityError:
        return None


def record_stripe_event(*, event: dict) -> StripeEvent | None:
    """Store a verified event once and queue its processing; None if it was stored before."""
    from .tasks import process_stripe_event_task  # the task module imports this one

    with transaction.atomic():
        stored = _store(event)
        if stored is not None:
            transaction.on_commit(lambda: process_stripe_event_task.delay(stored.pk), robust=True)
    return stored


def process_stripe_event(*, event_pk: int, skip_locked: bool = False) -> bool:
    """Run an event's handlers once; False if it was processed already (or is unknown).

    With `skip_locked`, an event another process is working on right now is left to it.
    """
    try:
        with transaction.atomic():
            event = (
                StripeEvent.objects.select_for_update(skip_locked=skip_locked)
                .filter(pk=event_pk)
                .first()
            )
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


def process_stale_events(
    *, received_before: datetime, limit: int = 500, include_failed: bool = True
) -> int:
    """Process events stored but never processed: their task was lost (with its worker, or
    with a broker that restarted empty) or, with `include_failed`, it failed. Returns how many.
    """
    stale_events = StripeEvent.objects.filter(
        processed_at__isnull=True, received_at__lte=received_before
    )
    if not include_failed:
        stale_events = stale_events.filter(error="")
    processed = 0
    for event_pk in stale_events.order_by("received_at").values_list("pk", flat=True)[:limit]:
        try:
            processed += process_stripe_event(event_pk=event_pk, skip_locked=True)
        except Exception:
            logger.exception("stripe event %s still fails", event_pk)
    return processed


def catch_up_events(*, fetched: Iterable[dict]) -> int:
    """Store and process events read from Stripe's API that never reached our webhook.

    They come from Stripe over an authenticated call, so they need no signature; one that
    the webhook stored meanwhile is left alone (the event id is unique). Returns how many
    were processed here.
    """
    fetched = list(fetched)
    known = set(
        StripeEvent.objects.filter(event_id__in=[e["id"] for e in fetched]).values_list(
            "event_id", flat=True
        )
    )
    processed = 0
    for event in fetched:
        if event["id"] in known:
            continue
        stored = _store(event)
        if stored is None:
            continue  # the webhook brought it just now; its own task processes it
        logger.warning("stripe event %s (%s) never came by webhook", event["id"], event["type"])
        try:
            processed += process_stripe_event(event_pk=stored.pk, skip_locked=True)
        except Exception:
            logger.exception("stripe event %s fails", stored.pk)
    return processed
