"""The import use case: parse -> plan -> write, all or nothing."""

from __future__ import annotations

from django.db import transaction

from .. import services as shop_services
from ..models import Shop
from .parse import FileProblem, group_rows, read_text
from .plan import ImportPlanner
from .report import ImportReport, RowError
from .write import WriteFailed, write_plans

MAX_ERRORS = 200


def import_products_csv(*, shop: Shop, by, file) -> ImportReport:
    """Create or update `shop`'s products from a Shopify product CSV.

    Every row is checked first; if any is bad the report lists them all and nothing is
    written. Otherwise everything is written in one transaction.
    """
    shop_services.ensure_owner(shop=shop, user=by)
    report = ImportReport()
    try:
        text = read_text(file)
    except FileProblem as exc:
        report.errors.append(RowError(0, "", str(exc)))
        return report
    groups = group_rows(text, report.errors)
    plans = ImportPlanner(shop=shop, errors=report.errors).plan(groups) if groups else []
    if report.errors:
        _sort_and_cap(report.errors)
        return report
    try:
        with transaction.atomic():
            write_plans(plans, shop=shop, by=by, report=report)
    except WriteFailed as exc:
        return ImportReport(errors=[exc.error])
    return report


def _sort_and_cap(errors: list[RowError]) -> None:
    errors.sort(key=lambda e: e.row_number)
    if len(errors) > MAX_ERRORS:
        more = len(errors) - MAX_ERRORS
        del errors[MAX_ERRORS:]
        errors.append(RowError(0, "", f"…and {more} more problems not listed."))
