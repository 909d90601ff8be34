"""Celery discovers `shopfeed.accounts.tasks`; the tasks live in their use-case packages."""

from .privacy.tasks import *  # noqa: F403
