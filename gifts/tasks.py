"""Gift tasks: thin, idempotent wrappers over services (beat runs them)."""

from celery import shared_task
from django.utils import timezone

from orders.ledger import services as ledger

from .earnings import services as earnings


@shared_task(name="gifts.tasks.convert_diamonds_task", acks_late=True)
def convert_diamonds_task() -> int:
    return len(earnings.convert_due_diamonds(now=timezone.now()))


@shared_task(name="gifts.tasks.fold_ledger_balances_task", acks_late=True)
def fold_ledger_balances_task() -> int:
    """Keep hot accounts' cached balances (creator diamonds, platform coins) close to true."""
    return ledger.fold_deferred_balances()


@shared_task(name="gifts.tasks.write_gift_sends_task", acks_late=True, reject_on_worker_lost=True)
def write_gift_sends_task() -> int:
    """Write room sends no writer process took (a dead writer's pending entries included)."""
    import os
    import socket

    from .sending import store, writer

    if not store.enabled():
        return 0
    return writer.drain(consumer=f"sweep-{socket.gethostname()}-{os.getpid()}", max_batches=50)
