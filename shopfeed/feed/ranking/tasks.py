"""Celery tasks of the ranker: thin wrappers over shopfeed.feed.ranking.services (idempotent:
a rebuild run twice stores the same kind of list)."""

from celery import shared_task

from . import services


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), max_retries=3, retry_backoff=True)
def rebuild_for_you_task(*, user_id: int, region: str) -> int:
    return services.rebuild_for_you(user_id=user_id, region=region)


@shared_task(acks_late=True)
def refresh_active_feeds_task() -> int:
    return services.refresh_active_feeds()
