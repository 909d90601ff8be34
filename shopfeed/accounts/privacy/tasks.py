"""Celery tasks for privacy requests: thin and idempotent."""

from celery import shared_task

from . import services


@shared_task(acks_late=True, max_retries=3, retry_backoff=True, autoretry_for=(OSError,))
def build_data_export_task(*, export_id: str) -> None:
    services.build_data_export(export_id=export_id)


@shared_task(acks_late=True)
def expire_data_exports_task() -> int:
    return services.expire_data_exports()
