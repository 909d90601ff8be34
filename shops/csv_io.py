"""Shopify product CSV: import (validate the whole file, then write it in one transaction)
and export.

Shopify writes one row per variant. The first row of a handle carries the product (Title,
Body, Vendor, Type, Tags, option names, Status) and its first variant; the rows after it
carry the Handle, option values and variant columns, or only an image (Image Src + Image
Position). Row numbers in reports count the header as row 1, as a spreadsheet shows them
(a quoted Body with line breaks is still one row).
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from urllib.parse import urljoin

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_slug
from django.db import IntegrityError, transaction
from django.db.models import Max, Prefetch
from django.utils.html import strip_tags

from shopfeed.errors import ShopFeedError

from . import services
from .models import Product, ProductImage, Shop, Variant

HANDLE = "Handle"
TITLE = "Title"
BODY = "Body (HTML)"
VENDOR = "Vendor"
CATEGORY = "Product Category"
TYPE = "Type"
TAGS = "Tags"
PUBLISHED = "Published"
OPTION_NAMES = ("Option1 Name", "Option2 Name", "Option3 Name")
OPTION_VALUES = ("Option1 Value", "Option2 Value", "Option3 Value")
SKU = "Variant SKU"
QTY = "Variant Inventory Qty"
PRICE = "Variant Price"
COMPARE_AT = "Variant Compare At Price"
IMAGE_SRC = "Image Src"
IMAGE_POSITION = "Image Position"
IMAGE_ALT = "Image Alt Text"
STATUS = "Status"

# The header exactly as Shopify's product export writes it.
COLUMNS = [
    HANDLE,
    TITLE,
    BODY,
    VENDOR,
    CATEGORY,
    TYPE,
    TAGS,
    PUBLISHED,
    OPTION_NAMES[0],
    OPTION_VALUES[0],
    OPTION_NAMES[1],
    OPTION_VALUES[1],
    OPTION_NAMES[2],
    OPTION_VALUES[2],
    SKU,
    "Variant Grams",
    "Variant Inventory Tracker",
    QTY,
    "Variant Inventory Policy",
    "Variant Fulfillment Service",
    PRICE,
    COMPARE_AT,
    "Variant Requires Shipping",
    "Variant Taxable",
    "Variant Barcode",
    IMAGE_SRC,
    IMAGE_POSITION,
    IMAGE_ALT,
    "Gift Card",
    "SEO Title",
    "SEO Description",
    "Google Shopping / Google Product Category",
    "Google Shopping / Gender",
    "Google Shopping / Age Group",
    "Google Shopping / MPN",
    "Google Shopping / Condition",
    "Google Shopping / Custom Product",
    "Google Shopping / Custom Label 0",
    "Google Shopping / Custom Label 1",
    "Google Shopping / Custom Label 2",
    "Google Shopping / Custom Label 3",
    "Google Shopping / Custom Label 4",
    "Variant Image",
    "Variant Weight Unit",
    "Variant Tax Code",
    "Cost per item",
    "Included / United States",
    "Price / United States",
    "Compare At Price / United States",
    "Included / International",
    "Price / International",
    "Compare At Price / International",
    STATUS,
]

# Shopify's placeholder option of a product without options.
DEFAULT_OPTION_NAME = "Title"
DEFAULT_OPTION_VALUE = "Default Title"

MAX_ERRORS = 200
MAX_AMOUNT = 1_000_000_000  # minor units: 10,000,000.00 fits the integer column easily
MAX_QUANTITY = 1_000_000_000
_IN_CHUNK = 500  # SQLite caps the parameters of one query

# Model field -> the column a write-time error is reported against.
_FIELD_COLUMNS = {
    "title": TITLE,
    "handle": HANDLE,
    "description": BODY,
    "vendor": VENDOR,
    "product_type": TYPE,
    "category": CATEGORY,
    "status": STATUS,
    "option1_name": OPTION_NAMES[0],
    "option2_name": OPTION_NAMES[1],
    "option3_name": OPTION_NAMES[2],
    "sku": SKU,
    "option1": OPTION_VALUES[0],
    "option2": OPTION_VALUES[1],
    "option3": OPTION_VALUES[2],
    "price_amount": PRICE,
    "compare_at_amount": COMPARE_AT,
    "quantity": QTY,
    "source_url": IMAGE_SRC,
    "alt_text": IMAGE_ALT,
    "position": IMAGE_POSITION,
}


@dataclass(frozen=True)
class RowError:
    row_number: int  # 1 is the header; 0 is the file as a whole
    column: str
    message: str

    def __str__(self) -> str:
        where = f"Row {self.row_number}" if self.row_number else "File"
        if self.column:
            where = f"{where}, {self.column}"
        return f"{where}: {self.message}"


@dataclass
class ImportReport:
    products_created: int = 0
    products_updated: int = 0
    variants_created: int = 0
    variants_updated: int = 0
    images_added: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# --- import --------------------------------------------------------------------------------


def import_products_csv(*, shop: Shop, by, file) -> ImportReport:
    """Create or update `shop`'s products from a Shopify product CSV.

    Every row is checked first; if any is bad the report lists them all and nothing is
    written. Otherwise everything is written in one transaction.
    """
    services.ensure_owner(shop=shop, user=by)
    report = ImportReport()
    try:
        text = _read_text(file)
    except _FileProblem as exc:
        report.errors.append(RowError(0, "", str(exc)))
        return report
    plans = _plan_import(shop=shop, text=text, errors=report.errors)
    if report.errors:
        report.errors.sort(key=lambda e: e.row_number)
        if len(report.errors) > MAX_ERRORS:
            more = len(report.errors) - MAX_ERRORS
            del report.errors[MAX_ERRORS:]
            report.errors.append(RowError(0, "", f"…and {more} more problems not listed."))
        return report
    try:
        with transaction.atomic():
            for plan in plans:
                _apply(plan, shop=shop, by=by, report=report)
    except _WriteFailed as exc:
        return ImportReport(errors=[exc.error])
    return report


class _FileProblem(Exception):
    pass


class _WriteFailed(Exception):
    def __init__(self, error: RowError):
        self.error = error
        super().__init__(str(error))


def _read_text(file) -> str:
    limit = settings.CSV_IMPORT_MAX_BYTES
    too_big = _FileProblem(f"The file is larger than {limit / 1_048_576:.0f} MB; split it.")
    size = getattr(file, "size", None)
    if size is not None and size > limit:
        raise too_big
    if hasattr(file, "seek"):
        try:
            file.seek(0)
        except (OSError, ValueError):
            pass  # a pipe: read from where it is
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
        raise _FileProblem(
            f"The file is not UTF-8 text (first bad byte on line {line}). "
            "Save it as “CSV UTF-8” and try again."
        ) from None


class _Row:
    """One data row; cells are read by column name, stripped, "" when absent."""

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
        return self._cells[i].strip()


@dataclass
class _VariantPlan:
    row: int
    sku: str
    options: tuple[str, str, str]
    price_amount: int | None  # None: unchanged (existing variant)
    compare_at_amount: int | None
    quantity: int | None  # None: 0 for a new variant, unchanged for an existing one
    existing: Variant | None = None


@dataclass
class _ImagePlan:
    row: int
    url: str
    position: int | None  # 0-based
    alt_text: str


@dataclass
class _ProductPlan:
    handle: str
    row: int
    product: Product | None
    fields: dict = field(default_factory=dict)
    category_name: str | None = None  # None: leave the category alone
    tags: list[str] | None = None
    status: str | None = None
    variants: list[_VariantPlan] = field(default_factory=list)
    images: list[_ImagePlan] = field(default_factory=list)


def _plan_import(*, shop: Shop, text: str, errors: list[RowError]) -> list[_ProductPlan]:
    records: list[list[str]] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for record in reader:
            records.append(record)
    except csv.Error as exc:
        errors.append(RowError(len(records) + 1, "", f"This row is not valid CSV ({exc})."))
        return []
    if not records or not any(c.strip() for c in records[0]):
        errors.append(RowError(1, "", "The file is empty; the first row must be the header."))
        return []
    header = [c.strip() for c in records[0]]
    index: dict[str, int] = {}
    for i, name in enumerate(header):
        index.setdefault(name.lower(), i)
    if HANDLE.lower() not in index:
        errors.append(
            RowError(1, HANDLE, "The header has no Handle column; is this a Shopify product CSV?")
        )
        return []

    groups: dict[str, list[_Row]] = {}
    for number, cells in enumerate(records[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
            errors.append(
                RowError(
                    number,
                    "",
                    f"This row has {len(cells)} cells but the header has {len(header)} columns.",
                )
            )
            continue
        row = _Row(number, cells, index)
        handle = row[HANDLE]
        problem = _handle_problem(handle)
        if problem:
            errors.append(RowError(number, HANDLE, problem))
            continue
        groups.setdefault(handle, []).append(row)
    if not groups:
        if not errors:
            errors.append(RowError(0, "", "The file has no product rows."))
        return []

    existing = _existing_products(shop, list(groups))
    skus = sorted({row[SKU] for rows in groups.values() for row in rows if row[SKU]})
    sku_owners = _sku_owners(shop, skus)
    seen_skus: dict[str, int] = {}
    plans = []
    for handle, rows in groups.items():
        plan = _plan_product(
            handle,
            rows,
            product=existing.get(handle),
            sku_owners=sku_owners,
            seen_skus=seen_skus,
            errors=errors,
        )
        if plan is not None:
            plans.append(plan)
    return plans


def _handle_problem(handle: str) -> str:
    if not handle:
        return "Every row needs a Handle."
    if len(handle) > 255:
        return "A Handle has at most 255 characters."
    try:
        validate_slug(handle)
    except ValidationError:
        return f"“{handle}” is not a valid Handle: use letters, numbers, hyphens or underscores."
    return ""


def _chunks(items: list, size: int = _IN_CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _existing_products(shop: Shop, handles: list[str]) -> dict[str, Product]:
    found = {}
    for chunk in _chunks(handles):
        qs = shop.products.filter(handle__in=chunk).prefetch_related(
            Prefetch("variants", queryset=Variant.objects.order_by("position", "id")), "images"
        )
        found.update({p.handle: p for p in qs})
    return found


def _sku_owners(shop: Shop, skus: list[str]) -> dict[str, Variant]:
    owners = {}
    for chunk in _chunks(skus):
        qs = Variant.objects.filter(shop=shop, sku__in=chunk).select_related("product")
        owners.update({v.sku: v for v in qs})
    return owners


def _label(options) -> str:
    return " / ".join(o for o in options if o) or "(no options)"


def _plan_product(
    handle: str,
    rows: list[_Row],
    *,
    product: Product | None,
    sku_owners: dict[str, Variant],
    seen_skus: dict[str, int],
    errors: list[RowError],
) -> _ProductPlan | None:
    def err(row: _Row, column: str, message: str) -> None:
        errors.append(RowError(row.number, column, message))

    first = rows[0]
    plan = _ProductPlan(handle=handle, row=first.number, product=product)
    if first[TITLE]:
        _plan_product_fields(plan, first, err)
    elif product is None:
        err(
            first,
            TITLE,
            f"There is no product “{handle}” in your shop, so the first row of this handle "
            "needs a Title.",
        )
        return None

    # Option names: from this file's product row, else the product's own.
    if "option1_name" in plan.fields:
        names = [plan.fields[f"option{i}_name"] for i in (1, 2, 3)]
    elif product is not None:
        names = [product.option1_name, product.option2_name, product.option3_name]
    else:
        names = ["", "", ""]
    variant_rows = [
        r for r in rows if any(r[c] for c in (*OPTION_VALUES, SKU, PRICE, COMPARE_AT, QTY))
    ]
    # Shopify's "Title: Default Title" means the product has no options.
    default_title = (
        names[0] == DEFAULT_OPTION_NAME
        and not names[1]
        and not names[2]
        and all(r[OPTION_VALUES[0]] in ("", DEFAULT_OPTION_VALUE) for r in variant_rows)
    )
    if default_title:
        names = ["", "", ""]
        if "option1_name" in plan.fields:
            plan.fields["option1_name"] = ""

    by_sku = {v.sku: v for v in product.variants.all() if v.sku} if product else {}
    by_options = (
        {(v.option1, v.option2, v.option3): v for v in product.variants.all()} if product else {}
    )
    matched: dict[int, int] = {}  # variant pk -> row
    seen_options: dict[tuple, int] = {}
    for row in variant_rows:
        variant_plan = _plan_variant(
            row,
            names=names,
            default_title=default_title,
            product=product,
            by_sku=by_sku,
            by_options=by_options,
            matched=matched,
            seen_options=seen_options,
            sku_owners=sku_owners,
            seen_skus=seen_skus,
            err=err,
        )
        if variant_plan is not None:
            plan.variants.append(variant_plan)

    if product is not None:
        # A changed or new option combination must not collide with a variant the file
        # leaves alone.
        untouched = {
            (v.option1, v.option2, v.option3): v
            for v in product.variants.all()
            if v.pk not in matched
        }
        for vp in plan.variants:
            other = untouched.get(vp.options)
            if other is not None:
                sku = f" (SKU {other.sku})" if other.sku else ""
                errors.append(
                    RowError(
                        vp.row,
                        OPTION_VALUES[0],
                        f"The product already has the variant {_label(vp.options)}{sku}; "
                        "give its SKU to update it.",
                    )
                )

    seen_images: set[str] = set()
    for row in rows:
        src = row[IMAGE_SRC]
        if src and src not in seen_images:
            seen_images.add(src)
            image_plan = _plan_image(row, product=product, err=err)
            if image_plan is not None:
                plan.images.append(image_plan)

    if product is None and not variant_rows:
        err(first, PRICE, "This product has no variant: give at least a Variant Price.")
    if (
        plan.status == Product.Status.ACTIVE
        and not plan.variants
        and product is not None
        and not product.variants.all()
    ):
        err(first, STATUS, "An active product needs a variant with a Variant Price.")
    return plan


def _plan_product_fields(plan: _ProductPlan, first: _Row, err) -> None:
    limits = {TITLE: 255, VENDOR: 120, TYPE: 120}
    for column, limit in limits.items():
        if len(first[column]) > limit:
            err(first, column, f"{column} has at most {limit} characters.")
    plan.fields["title"] = first[TITLE]
    if first.has(BODY):
        plan.fields["description"] = html_to_text(first[BODY])
    if first.has(VENDOR):
        plan.fields["vendor"] = first[VENDOR]
    if first.has(TYPE):
        plan.fields["product_type"] = first[TYPE]
    if first.has(CATEGORY) or first.has(TYPE):
        # Shopify's category is a taxonomy path; its last step names ours.
        path = first[CATEGORY].split(">")[-1].strip()
        plan.category_name = (path or first[TYPE])[:80]
    if first.has(TAGS):
        plan.tags = [t.strip() for t in first[TAGS].split(",") if t.strip()]

    if any(first.has(c) for c in OPTION_NAMES):
        names = [first[c] for c in OPTION_NAMES]
        for i, name in enumerate(names):
            if len(name) > 60:
                err(first, OPTION_NAMES[i], "An option name has at most 60 characters.")
            if name and i and not names[i - 1]:
                err(
                    first,
                    OPTION_NAMES[i],
                    f"{OPTION_NAMES[i]} is given without {OPTION_NAMES[i - 1]}.",
                )
            if name and name.lower() in (n.lower() for n in names[:i]):
                err(first, OPTION_NAMES[i], f"The option name “{name}” is used twice.")
        for i, name in enumerate(names, start=1):
            plan.fields[f"option{i}_name"] = name

    status = first[STATUS].lower()
    published = first[PUBLISHED].lower()
    if status:
        if status in Product.Status.values:
            plan.status = status
        else:
            err(first, STATUS, f"Status “{first[STATUS]}” is not active, draft or archived.")
    elif published:
        if published in ("true", "yes", "1"):
            plan.status = Product.Status.ACTIVE
        elif published in ("false", "no", "0"):
            plan.status = Product.Status.DRAFT
        else:
            err(first, PUBLISHED, f"Published is “{first[PUBLISHED]}”; use TRUE or FALSE.")


def _plan_variant(
    row: _Row,
    *,
    names,
    default_title: bool,
    product: Product | None,
    by_sku: dict[str, Variant],
    by_options: dict[tuple, Variant],
    matched: dict[int, int],
    seen_options: dict[tuple, int],
    sku_owners: dict[str, Variant],
    seen_skus: dict[str, int],
    err,
) -> _VariantPlan | None:
    err = counted = _ErrorCount(err)
    values = ["" if default_title else row[c] for c in OPTION_VALUES]
    for i, (name, value) in enumerate(zip(names, values, strict=True)):
        column = OPTION_VALUES[i]
        if name and not value:
            err(row, column, f"Give a value for the option “{name}”.")
        elif value and not name:
            err(row, column, f"{column} is given but the product has no {OPTION_NAMES[i]}.")
        elif len(value) > 100:
            err(row, column, "An option value has at most 100 characters.")
    options = (values[0], values[1], values[2])

    sku = row[SKU]
    if len(sku) > 64:
        err(row, SKU, "A SKU has at most 64 characters.")
    elif sku in seen_skus:
        err(row, SKU, f"SKU {sku} is already used on row {seen_skus[sku]}.")
    elif sku:
        seen_skus[sku] = row.number
        owner = sku_owners.get(sku)
        if owner is not None and (product is None or owner.product_id != product.pk):
            err(
                row,
                SKU,
                f"SKU {sku} already belongs to another product of your shop: "
                f"{owner.product.title} ({owner.product.handle}).",
            )

    if options in seen_options:
        err(
            row,
            OPTION_VALUES[0],
            f"Row {seen_options[options]} already has the variant {_label(options)} of this "
            "product." + ("" if any(names) else " Add Option1 Name to sell several variants."),
        )
    else:
        seen_options[options] = row.number

    existing = by_sku.get(sku) if sku else None
    if existing is None and product is not None:
        candidate = by_options.get(options)
        if candidate is not None and sku and candidate.sku and candidate.sku != sku:
            err(
                row,
                SKU,
                f"The variant {_label(options)} of this product has SKU {candidate.sku}; "
                "use that SKU or other option values.",
            )
        elif candidate is not None:
            existing = candidate
    if existing is not None:
        if existing.pk in matched:
            err(row, SKU, f"Row {matched[existing.pk]} already updates this variant.")
        else:
            matched[existing.pk] = row.number

    price = compare_at = quantity = None
    if row[PRICE]:
        price = _parse_money(row, PRICE, err)
        if price is not None and price <= 0:
            err(row, PRICE, "Variant Price must be more than 0.")
    elif existing is None:
        err(row, PRICE, "Variant Price is required for a new variant.")
    if row[COMPARE_AT]:
        compare_at = _parse_money(row, COMPARE_AT, err)
        effective = price if price is not None else getattr(existing, "price_amount", None)
        if compare_at is not None and effective is not None and compare_at <= effective:
            err(
                row,
                COMPARE_AT,
                f"Variant Compare At Price ({row[COMPARE_AT]}) must be higher than the price "
                f"({format_amount(effective)}), or left blank.",
            )
    if row[QTY]:
        quantity = _parse_quantity(row, err)

    if counted.count:
        return None
    return _VariantPlan(
        row=row.number,
        sku=sku,
        options=options,
        price_amount=price,
        compare_at_amount=compare_at,
        quantity=quantity,
        existing=existing,
    )


class _ErrorCount:
    def __init__(self, err):
        self._err = err
        self.count = 0

    def __call__(self, *args) -> None:
        self.count += 1
        self._err(*args)


_MONEY_RE = re.compile(r"\d+(\.\d*)?|\.\d+")


def _parse_money(row: _Row, column: str, err) -> int | None:
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


def _parse_quantity(row: _Row, err) -> int | None:
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


_url_validator = URLValidator(schemes=["http", "https"])


def _plan_image(row: _Row, *, product: Product | None, err) -> _ImagePlan | None:
    url = row[IMAGE_SRC]
    if product is not None and _known_image(product, url):
        return None  # already there: images are added, never replaced
    bad = False
    try:
        _url_validator(url)
    except ValidationError:
        err(row, IMAGE_SRC, "Image Src must be a full web address (https://…).")
        bad = True
    if len(url) > 1000:
        err(row, IMAGE_SRC, "Image Src has at most 1000 characters.")
        bad = True
    position = None
    raw = row[IMAGE_POSITION]
    if raw:
        if raw.isdigit() and 1 <= int(raw) <= 10_000:
            position = int(raw) - 1
        else:
            err(row, IMAGE_POSITION, f"Image Position “{raw}” is not a number from 1 up.")
            bad = True
    alt = row[IMAGE_ALT]
    if len(alt) > 200:
        err(row, IMAGE_ALT, "Image Alt Text has at most 200 characters.")
        bad = True
    if bad:
        return None
    return _ImagePlan(row=row.number, url=url, position=position, alt_text=alt)


def _known_image(product: Product, url: str) -> bool:
    for img in product.images.all():
        if img.source_url == url or (img.image and url.endswith(img.image.url)):
            return True
    return False


# --- writing -------------------------------------------------------------------------------


@contextmanager
def _row_guard(row: int, column: str):
    """A rule a service still refuses aborts the whole import, reported against its row."""
    try:
        yield
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            name, messages = next(iter(exc.message_dict.items()))
            column = _FIELD_COLUMNS.get(name, column)
            message = " ".join(messages)
        else:
            message = " ".join(exc.messages)
        raise _WriteFailed(RowError(row, column, message)) from exc
    except ShopFeedError as exc:
        column = _FIELD_COLUMNS.get(exc.field or "", column)
        raise _WriteFailed(RowError(row, column, exc.message)) from exc
    except IntegrityError as exc:  # a change made at the same moment, e.g. the same handle
        message = "This conflicts with a change made at the same time; import again."
        raise _WriteFailed(RowError(row, column, message)) from exc


def _apply(plan: _ProductPlan, *, shop: Shop, by, report: ImportReport) -> None:
    fields = dict(plan.fields)
    if plan.category_name is not None:
        fields["category"] = services.get_or_create_category(plan.category_name)
    if plan.product is None:
        with _row_guard(plan.row, TITLE):
            product = services.create_product(
                shop=shop, by=by, handle=plan.handle, tags=plan.tags or (), **fields
            )
        report.products_created += 1
        next_position = 0
    else:
        # Fresh and locked: the planning copy carries prefetched (now stale) relations.
        product = Product.objects.select_for_update().get(pk=plan.product.pk)
        if fields or plan.tags is not None:
            with _row_guard(plan.row, TITLE):
                services.update_product(product=product, by=by, tags=plan.tags, **fields)
        report.products_updated += 1
        last = product.variants.aggregate(last=Max("position"))["last"]
        next_position = 0 if last is None else last + 1

    for vp in plan.variants:
        values = {
            "sku": vp.sku,
            "option1": vp.options[0],
            "option2": vp.options[1],
            "option3": vp.options[2],
            "compare_at_amount": vp.compare_at_amount,
        }
        if vp.price_amount is not None:
            values["price_amount"] = vp.price_amount
        if vp.quantity is not None:
            values["quantity"] = vp.quantity
        variant = None
        if vp.existing is not None:
            variant = Variant.objects.select_for_update().get(pk=vp.existing.pk)
        else:
            values.setdefault("quantity", 0)
            values["position"] = next_position
            next_position += 1
        with _row_guard(vp.row, PRICE):
            services.save_variant(product=product, by=by, variant=variant, **values)
        if variant is None:
            report.variants_created += 1
        else:
            report.variants_updated += 1

    for ip in plan.images:
        with _row_guard(ip.row, IMAGE_SRC):
            services.add_image_source(
                product=product, by=by, url=ip.url, position=ip.position, alt_text=ip.alt_text
            )
        report.images_added += 1

    if plan.status is not None and plan.status != product.status:
        with _row_guard(plan.row, STATUS):
            services.set_product_status(product=product, by=by, status=plan.status)


# --- export --------------------------------------------------------------------------------


class _Echo:
    def write(self, value: str) -> str:
        return value


def export_products_csv(*, shop: Shop, base_url: str = "") -> Iterator[str]:
    """Every product of `shop` (any status) as Shopify CSV lines, the header first.

    `base_url` turns uploaded images' relative media URLs into full addresses.
    """
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    products = (
        shop.products.select_related("category")
        .prefetch_related(
            Prefetch("variants", queryset=Variant.objects.order_by("position", "id")),
            Prefetch("images", queryset=ProductImage.objects.order_by("position", "id")),
            "tags",
        )
        .order_by("tab_position", "id")
    )
    for product in products.iterator(chunk_size=200):
        for row in _export_rows(product, base_url=base_url):
            yield writer.writerow([row.get(c, "") for c in COLUMNS])


def _export_rows(product: Product, *, base_url: str) -> Iterator[dict[str, str]]:
    variants = list(product.variants.all())
    images = [(img, url) for img in product.images.all() if (url := _image_url(img, base_url))]
    names = [product.option1_name, product.option2_name, product.option3_name]
    for i in range(3):
        if not names[i] and any(getattr(v, f"option{i + 1}") for v in variants):
            names[i] = f"Option {i + 1}"  # values without a name: Shopify needs one
    default_title = not any(names)
    if default_title:
        names[0] = DEFAULT_OPTION_NAME

    for i in range(max(len(variants), len(images), 1)):
        row = {HANDLE: product.handle}
        if i == 0:
            row.update(
                {
                    TITLE: product.title,
                    BODY: text_to_html(product.description),
                    VENDOR: product.vendor,
                    CATEGORY: product.category.name if product.category else "",
                    TYPE: product.product_type,
                    TAGS: ", ".join(sorted(t.name for t in product.tags.all())),
                    PUBLISHED: "TRUE" if product.status == Product.Status.ACTIVE else "FALSE",
                    "Gift Card": "FALSE",
                    STATUS: product.status,
                }
            )
            for column, name in zip(OPTION_NAMES, names, strict=True):
                row[column] = name
        if i < len(variants):
            v = variants[i]
            values = (v.option1, v.option2, v.option3)
            for n, column in enumerate(OPTION_VALUES):
                row[column] = DEFAULT_OPTION_VALUE if default_title and n == 0 else values[n]
            row.update(
                {
                    SKU: v.sku,
                    "Variant Inventory Tracker": "shopify",
                    QTY: str(v.quantity),
                    "Variant Inventory Policy": "deny",
                    "Variant Fulfillment Service": "manual",
                    PRICE: format_amount(v.price_amount),
                    COMPARE_AT: format_amount(v.compare_at_amount),
                    "Variant Requires Shipping": "TRUE",
                    "Variant Taxable": "TRUE",
                    "Variant Weight Unit": "kg",
                }
            )
        if i < len(images):
            img, url = images[i]
            row.update({IMAGE_SRC: url, IMAGE_POSITION: str(i + 1), IMAGE_ALT: img.alt_text})
        yield row


def _image_url(img: ProductImage, base_url: str) -> str:
    if img.source_url:
        return img.source_url
    if not img.image:
        return ""
    url = img.image.url
    return urljoin(base_url, url) if base_url else url


def format_amount(amount: int | None) -> str:
    """Minor units as Shopify writes a price: 3900 -> "39.00"."""
    if amount is None:
        return ""
    return f"{amount // 100}.{amount % 100:02d}"


# --- Body (HTML) <-> plain description -----------------------------------------------------

_TAG_RE = re.compile(r"</?[a-zA-Z][^>]*>")
_DROP_RE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_BR_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)
_LI_RE = re.compile(r"<li\b[^>]*>", re.IGNORECASE)
_BLOCK_END_RE = re.compile(
    r"</(p|div|h[1-6]|ul|ol|table|tr|blockquote|section|article)\s*>", re.IGNORECASE
)


def html_to_text(value: str) -> str:
    """Shopify's Body (HTML) as the plain text our descriptions hold (pages escape it)."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    if _TAG_RE.search(value):
        value = _DROP_RE.sub("", value)
        value = re.sub(r"\s+", " ", value)  # in HTML a line break is just a space
        value = _BR_RE.sub("\n", value)
        value = _LI_RE.sub("\n• ", value)
        value = _BLOCK_END_RE.sub("\n\n", value)
        value = html.unescape(strip_tags(value))
    lines = [line.strip() for line in value.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def text_to_html(value: str) -> str:
    if not value:
        return ""
    paragraphs = re.split(r"\n\s*\n", value.strip())
    return "".join(
        f"<p>{html.escape(p.strip(), quote=False).replace(chr(10), '<br>')}</p>"
        for p in paragraphs
        if p.strip()
    )
