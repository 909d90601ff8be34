"""Parse: the uploaded bytes as text, the text as rows grouped by Handle, cells as values.

Row numbers count the header as row 1, as a spreadsheet shows them (a quoted Body with line
breaks is still one row).
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug

from ..csv_format import HANDLE, QTY, format_amount, restore_formula
from .report import RowError

MAX_AMOUNT = 1_000_000_000  # minor units: 10,000,000.00 fits the integer column easily
MAX_QUANTITY = 1_000_000_000


class FileProblem(Exception):
    """The file as a whole cannot be read."""


def read_text(file) -> str:
    limit = settings.CSV_IMPORT_MAX_BYTES
    too_big = FileProblem(f"The file is larger than {limit / 1_048_576:.0f} MB; split it.")
    size = getattr(file, "size", None)
    if size is not None and size > limit:
        raise too_big
    if hasattr(file, "seek"):
        with contextlib.suppress(OSError, ValueError):  # a pipe: read from where it is
            file.seek(0)
    data = file.read(limit + 1)
    if isinstance(data, str):
        if len(data.encode("utf-8")) > limit:
            raise too_big
        return data.removeprefix("\ufeff")
    if len(data) > limit:
        raise too_big
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FileProblem(
            f"The file is not UTF-8 text (first bad byte on line {line}). "
            "Save it as “CSV UTF-8” and try again."
        ) from None


class Row:
    """One data row; cells are read by column name, stripped, "" when absent, without the
    quote our export puts before a cell that starts like a formula."""

    def __init__(self, number: int, cells: list[str], index: dict[str, int]):
        self.number = number
        self._cells = cells
        self._index = index

    def has(self, column: str) -> bool:
        return column.lower() in self._index

    def __getitem__(self, column: str) -> str:
        i = self._index.get(column.lower())
        if i is None or i >= len(self._cells):
            return ""
        return restore_formula(self._cells[i].strip())


def group_rows(text: str, errors: list[RowError]) -> dict[str, list[Row]]:
    """The file's data rows by Handle, in file order; bad rows go to `errors` instead."""
    records = _records(text, errors)
    if records is None:
        return {}
    header = [c.strip() for c in records[0]]
    index: dict[str, int] = {}
    for i, name in enumerate(header):
        index.setdefault(name.lower(), i)
    if HANDLE.lower() not in index:
        errors.append(
            RowError(1, HANDLE, "The header has no Handle column; is this a Shopify product CSV?")
        )
        return {}

    groups: dict[str, list[Row]] = {}
    for number, cells in enumerate(records[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
            message = f"This row has {len(cells)} cells but the header has {len(header)} columns."
            errors.append(RowError(number, "", message))
            continue
        row = Row(number, cells, index)
        problem = handle_problem(row[HANDLE])
        if problem:
            errors.append(RowError(number, HANDLE, problem))
            continue
        groups.setdefault(row[HANDLE], []).append(row)
    if not groups and not errors:
        errors.append(RowError(0, "", "The file has no product rows."))
    return groups


def _records(text: str, errors: list[RowError]) -> list[list[str]] | None:
    records: list[list[str]] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for record in reader:
            records.append(record)
    except csv.Error as exc:
        errors.append(RowError(len(records) + 1, "", f"This row is not valid CSV ({exc})."))
        return None
    if not records or not any(c.strip() for c in records[0]):
        errors.append(RowError(1, "", "The file is empty; the first row must be the header."))
        return None
    return records


def handle_problem(handle: str) -> str:
    if not handle:
        return "Every row needs a Handle."
    if len(handle) > 255:
        return "A Handle has at most 255 characters."
    try:
        validate_slug(handle)
    except ValidationError:
        return f"“{handle}” is not a valid Handle: use letters, numbers, hyphens or underscores."
    return ""


_MONEY_RE = re.compile(r"\d+(\.\d*)?|\.\d+")


def parse_money(row: Row, column: str, err) -> int | None:
    raw = row[column]
    if raw.startswith("-"):
        err(row, column, f"{column} cannot be negative.")
        return None
    if not _MONEY_RE.fullmatch(raw):
        err(row, column, f"{column} “{raw}” is not an amount like 39.00.")
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        err(row, column, f"{column} “{raw}” is not an amount like 39.00.")
        return None
    cents = value * 100
    if cents != cents.to_integral_value():
        err(row, column, f"{column} “{raw}” has more than 2 decimal places.")
        return None
    if cents > MAX_AMOUNT:
        err(row, column, f"{column} is more than {format_amount(MAX_AMOUNT)}.")
        return None
    return int(cents)


def parse_quantity(row: Row, err) -> int | None:
    raw = row[QTY]
    if not re.fullmatch(r"[+-]?\d+", raw):
        err(row, QTY, f"Variant Inventory Qty “{raw}” is not a whole number.")
        return None
    value = int(raw)
    if value < 0:
        err(row, QTY, "Variant Inventory Qty cannot be negative.")
        return None
    if value > MAX_QUANTITY:
        err(row, QTY, "Variant Inventory Qty is too large.")
        return None
    return value
