"""Payment tasks: thin wrappers over orders.payments (each service is safe to run twice, so
each task acknowledges late and goes back to the queue if its worker dies: DESIGN.md 9).

Their names are the ones they had in orders/payment_tasks.py, so queued messages and the beat
schedule (shopfeed/settings.py) keep resolving.
"""

from celery import shared_task

from . import events, reconcile

__all__ = [
    "process_stripe_event_task",
    "reconcile_payments_task",
    "release_expired_checkouts_task",
    "sweep_payments_task",
]

# Every task here is idempotent, so a message a dead worker held is safely run again.


@shared_task(
    name="orders.payment_tasks.process_stripe_event_task",
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=6,
    acks_late=True,
    reject_on_worker_lost=True,
)
def process_stripe_event_task(event_pk: int) -> bool:
    # After the last retry the event stays unprocessed (with its error) and reconciliation
    # runs it again.
    return events.process_stripe_event(event_pk=event_pk)


# Beat runs these every few seconds or minutes: a failed run is simply the next run's work.
@shared_task(
    name="orders.payment_tasks.release_expired_checkouts_task",
    acks_late=True,
    reject_on_worker_lost=True,
)
def release_expired_checkouts_task() -> int:
    return reconcile.release_expired_checkouts()


@shared_task(
    name="orders.payment_tasks.reconcile_payments_task", acks_late=True, reject_on_worker_lost=True
)
def reconcile_payments_task() -> int:
    return reconcile.reconcile_payments()


@shared_task(
    name="orders.payments.tasks.sweep_payments_task", acks_late=True, reject_on_worker_lost=True
)
def sweep_payments_task() -> int:
    return reconcile.sweep_payments()
