"""Celery discovers `orders.tasks`; the tasks live beside the services they wrap."""

from .payment_tasks import *  # noqa: F403
from .payout_tasks import *  # noqa: F403
