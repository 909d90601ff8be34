"""Flash-sale upkeep on Celery beat: write what no writer process took (a dead writer's pending
entries included) and bring Redis's counts back to PostgreSQL's. Safe to run twice."""

import os
import socket

from celery import shared_task

from . import services, writer

__all__ = ["reconcile_flash_task"]


@shared_task(
    name="orders.flash.tasks.reconcile_flash_task", acks_late=True, reject_on_worker_lost=True
)
def reconcile_flash_task() -> int:
    if not services.enabled():
        return 0
    written = writer.drain(consumer=f"sweep-{socket.gethostname()}-{os.getpid()}", max_batches=50)
    services.reconcile()
    return written
