"""Imports as background jobs: the upload is stored and queued, a Celery worker runs it.

A 5,000-product file held one request for 75 s when imported in the request. Now the page
stores the file (`ProductImport`, the storage backend) and returns at once; the worker runs
the same check-then-write import and the page polls the job's progress and report.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from shopfeed.errors import ShopFeedError

from .. import services as shop_services
from ..models import ProductImport, Shop
from .report import ImportReport, RowError
from .services import check_import, write_import

logger = logging.getLogger(__name__)

STOPPED_MESSAGE = "The import stopped unexpectedly; nothing was imported. Upload the file again."


@transaction.atomic
def queue_import(*, shop: Shop, by, file) -> ProductImport:
    """Store the upload and queue its import (sent to the worker once this commits)."""
    shop_services.ensure_owner(shop=shop, user=by)
    name = (getattr(file, "name", "") or "products.csv").rsplit("/", 1)[-1][:255]
    job = ProductImport(shop=shop, created_by=by, file_name=name)
    job.file.save(name, file, save=False)
    try:
        job.save()
    except BaseException:
        job.file.delete(save=False)  # the row is not there: neither should its file be
        raise
    from ..tasks import run_product_import_task

    transaction.on_commit(lambda: run_product_import_task.delay(job.pk))
    return job


class _AlreadyFinished(Exception):
    pass


def run_import(*, import_id: int) -> ProductImport | None:
    """Run a queued import. Safe to run again: a finished import is left as it is, and one
    whose worker died half-way (nothing written: the write is one transaction) starts over."""
    job = ProductImport.objects.select_related("shop", "created_by").filter(pk=import_id).first()
    if job is None or job.is_finished:
        return job
    _set(job, status=ProductImport.Status.RUNNING, started_at=timezone.now(), rows_checked=0)
    try:
        report = _run(job)
    except _AlreadyFinished:
        job.refresh_from_db()
        return job
    except Exception:
        logger.exception("product import %s failed", job.pk)
        _finish(job, ImportReport(errors=[RowError(0, "", STOPPED_MESSAGE)]))
        raise
    if not report.ok:
        _finish(job, report)
    return job


def _run(job: ProductImport) -> ImportReport:
    def progress(checked: int, total: int) -> None:
        _set(job, rows_checked=checked, rows_total=total)

    try:
        with job.file.open("rb") as fh:
            report, plans = check_import(
                shop=job.shop, by=job.created_by, file=fh, progress=progress
            )
    except ShopFeedError as exc:  # e.g. the uploader no longer owns the shop
        return ImportReport(errors=[RowError(0, "", exc.message)])
    if not report.ok:
        return report

    def done(report: ImportReport) -> None:
        # In the import's own transaction: "done" is never seen without the products.
        locked = ProductImport.objects.select_for_update().get(pk=job.pk)
        if locked.is_finished:
            raise _AlreadyFinished  # another worker got there first: roll this one back
        _finish(job, report)

    return write_import(shop=job.shop, plans=plans, report=report, then=done)


def _set(job: ProductImport, **fields) -> None:
    for name, value in fields.items():
        setattr(job, name, value)
    ProductImport.objects.filter(pk=job.pk).update(**fields)


def _finish(job: ProductImport, report: ImportReport) -> None:
    status = ProductImport.Status.DONE if report.ok else ProductImport.Status.FAILED
    _set(job, status=status, report=report.as_dict(), finished_at=timezone.now())
