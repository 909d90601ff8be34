"""The import use case: parse -> plan -> write, all or nothing."""

from __future__ import annotations

from collections.abc import Callable

from django.db import IntegrityError, transaction

from .. import services as shop_services
from ..models import Shop
from .parse import FileProblem, group_rows, read_text
from .plan import ImportPlanner, ProductPlan
from .report import ImportReport, RowError
from .write import CONFLICT_MESSAGE, WriteFailed, write_plans

MAX_ERRORS = 200

Progress = Callable[[int, int], None]  # (rows checked, rows in the file)


def import_products_csv(*, shop: Shop, by, file, progress: Progress | None = None) -> ImportReport:
    """Create or update `shop`'s products from a Shopify product CSV.

    Every row is checked first; if any is bad the report lists them all and nothing is
    written. Otherwise everything is written in one transaction.
    """
    report, plans = check_import(shop=shop, by=by, file=file, progress=progress)
    if report.errors:
        return report
    return write_import(shop=shop, plans=plans, report=report)


def check_import(
    *, shop: Shop, by, file, progress: Progress | None = None
) -> tuple[ImportReport, list[ProductPlan]]:
    """Read and check the whole file; writes nothing. The report holds every problem."""
    shop_services.ensure_owner(shop=shop, user=by)
    report = ImportReport()
    try:
        text = read_text(file)
    except FileProblem as exc:
        report.errors.append(RowError(0, "", str(exc)))
        return report, []
    groups = group_rows(text, report.errors)
    planner = ImportPlanner(shop=shop, errors=report.errors, progress=progress)
    plans = planner.plan(groups) if groups else []
    if report.errors:
        _sort_and_cap(report.errors)
        return report, []
    return report, plans


def write_import(
    *,
    shop: Shop,
    plans: list[ProductPlan],
    report: ImportReport,
    then: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Write checked plans in one transaction; `then` runs last inside it (its exception
    rolls everything back). A refusal returns a report with that one error, nothing written."""
    try:
        with transaction.atomic():
            write_plans(plans, shop=shop, report=report)
            if then is not None:
                then(report)
    except WriteFailed as exc:
        return ImportReport(errors=[exc.error])
    except IntegrityError:  # a change made at the same moment, e.g. the same handle or SKU
        return ImportReport(errors=[RowError(0, "", CONFLICT_MESSAGE)])
    return report


def _sort_and_cap(errors: list[RowError]) -> None:
    errors.sort(key=lambda e: e.row_number)
    if len(errors) > MAX_ERRORS:
        more = len(errors) - MAX_ERRORS
        del errors[MAX_ERRORS:]
        errors.append(RowError(0, "", f"…and {more} more problems not listed."))
