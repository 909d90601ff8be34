"""Payment tasks: thin wrappers over orders.payments (each service is safe to run twice).

Their names are the ones they had in orders/payment_tasks.py, so queued messages and the beat
schedule (shopfeed/settings.py) keep resolving.
"""

from celery import shared_task

from . import events, reconcile

__all__ = [
    "process_stripe_event_task",
    "reconcile_payments_task",
    "release_expired_checkouts_task",
]


@shared_task(
    name="orders.payment_tasks.process_stripe_event_task",
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=6,
)
def process_stripe_event_task(event_pk: int) -> bool:
    # After the last retry the event stays unprocessed (with its error) and reconciliation
    # runs it again.
    return events.process_stripe_event(event_pk=event_pk)


# Beat runs these every few minutes: a failed run is simply the next run's work.
@shared_task(name="orders.payment_tasks.release_expired_checkouts_task", acks_late=True)
def release_expired_checkouts_task() -> int:
    return reconcile.release_expired_checkouts()


@shared_task(name="orders.payment_tasks.reconcile_payments_task", acks_late=True)
def reconcile_payments_task() -> int:
    return reconcile.reconcile_payments()
