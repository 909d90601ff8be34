"""Celery discovers `orders.tasks`; the tasks live in the use-case packages they wrap."""

from .flash.tasks import *  # noqa: F403
from .fulfilment.tasks import *  # noqa: F403
from .payments.tasks import *  # noqa: F403
from .payouts.tasks import *  # noqa: F403
