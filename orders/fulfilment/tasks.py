"""Fulfilment tasks: a thin wrapper over orders.fulfilment.services (beat runs it)."""

from celery import shared_task

from . import services

__all__ = ["complete_delivered_orders_task"]


# Delivered orders close once their hold has passed; a failed run is the next run's work.
@shared_task(name="orders.fulfilment.tasks.complete_delivered_orders_task", acks_late=True)
def complete_delivered_orders_task() -> int:
    return services.complete_delivered_orders()
