"""Shopify product CSV import, in three steps: `parse` (bytes -> rows grouped by Handle),
`plan` (every row checked against the shop, nothing written) and `write` (the plans applied
in one transaction). `services.import_products_csv` runs them."""

from .report import ImportReport, RowError
from .services import import_products_csv

__all__ = ["ImportReport", "RowError", "import_products_csv"]
