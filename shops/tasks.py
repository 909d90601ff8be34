from celery import shared_task

from . import services


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def make_thumbnail_task(image_id: int) -> None:
    services.make_thumbnail(image_id=image_id)
