"""Celery discovers `orders.tasks`; the tasks live beside the services they wrap."""

from .payments.tasks import *  # noqa: F403
from .payouts.tasks import *  # noqa: F403
