from celery import shared_task

from . import services


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def make_thumbnail_task(image_id: int) -> None:
    services.make_thumbnail(image_id=image_id)


# Idempotent (a finished import is left alone; the write is one transaction), so a worker
# lost mid-import hands the job to another.
@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_product_import_task(import_id: int) -> None:
    from .csv_import.jobs import run_import

    run_import(import_id=import_id)
