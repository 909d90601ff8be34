"""Payout tasks: thin wrappers over orders.payouts.services (beat runs the first two).

Every task is idempotent, so `acks_late` + reject-on-worker-lost (settings) are safe: a
message redelivered after a worker died runs the service again and it finds the work done.
Retry delays stay below the broker's visibility timeout (DESIGN.md section 9).
"""

from celery import shared_task
from django.conf import settings
from django.db import OperationalError, transaction
from django.utils import timezone

from ..errors import PaymentError
from . import services as payouts

__all__ = [
    "create_payouts_task",
    "enqueue_send",
    "release_payables_task",
    "send_payout_task",
]


@shared_task(name="orders.payout_tasks.release_payables_task", acks_late=True)
def release_payables_task() -> int:
    return len(payouts.release_due_payables(now=timezone.now()))


@shared_task(name="orders.payout_tasks.create_payouts_task", acks_late=True)
def create_payouts_task() -> int:
    now = timezone.now()
    created = payouts.create_payouts(now=now)
    # Also re-send what a lost message or an exhausted retry left unsent (same key: safe).
    enqueue_send([p.pk for p in created] + payouts.payouts_to_send(now=now))
    return len(created)


@shared_task(
    name="orders.payout_tasks.send_payout_task",
    acks_late=True,
    autoretry_for=(PaymentError, OperationalError),
    retry_backoff=30,
    retry_backoff_max=1800,
    retry_jitter=True,
    max_retries=getattr(settings, "PAYOUT_MAX_ATTEMPTS", 5),
)
def send_payout_task(payout_id: int) -> str:
    return payouts.send_payout(payout_id=payout_id).status


def enqueue_send(payout_ids) -> None:
    """Queue a send for each payout once the current transaction (if any) has committed."""
    for payout_id in dict.fromkeys(payout_ids):
        transaction.on_commit(lambda pk=payout_id: send_payout_task.delay(pk))
