"""Plan: check every row of the file against the shop and decide what each one will write.

Nothing is written here. Every problem is collected (with its row and column) so that the
creator sees them all at once; the import writes only when there is none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db.models import Prefetch

from ..csv_format import (
    BODY,
    CATEGORY,
    COMPARE_AT,
    DEFAULT_OPTION_NAME,
    DEFAULT_OPTION_VALUE,
    IMAGE_ALT,
    IMAGE_POSITION,
    IMAGE_SRC,
    OPTION_NAMES,
    OPTION_VALUES,
    PRICE,
    PUBLISHED,
    QTY,
    SKU,
    STATUS,
    TAGS,
    TITLE,
    TYPE,
    VENDOR,
    format_amount,
    html_to_text,
)
from ..models import Product, Shop, Variant
from .parse import Row, parse_money, parse_quantity
from .report import RowError

_IN_CHUNK = 500  # SQLite caps the parameters of one query


@dataclass
class VariantPlan:
    row: int
    sku: str
    options: tuple[str, str, str]
    price_amount: int | None  # None: unchanged (existing variant)
    compare_at_amount: int | None
    quantity: int | None  # None: 0 for a new variant, unchanged for an existing one
    existing: Variant | None = None


@dataclass
class ImagePlan:
    row: int
    url: str
    position: int | None  # 0-based
    alt_text: str


@dataclass
class ProductPlan:
    handle: str
    row: int
    product: Product | None
    fields: dict = field(default_factory=dict)
    category_name: str | None = None  # None: leave the category alone
    tags: list[str] | None = None
    status: str | None = None
    variants: list[VariantPlan] = field(default_factory=list)
    images: list[ImagePlan] = field(default_factory=list)


class ImportPlanner:
    """Plans a file's products for one shop; what spans products (SKUs) is kept here."""

    PROGRESS_EVERY = 500  # rows

    def __init__(self, *, shop: Shop, errors: list[RowError], progress=None):
        self.shop = shop
        self.errors = errors
        self.progress = progress  # called with (rows checked, rows in all) now and then
        self.sku_owners: dict[str, Variant] = {}
        self.seen_skus: dict[str, int] = {}  # SKU -> the row that first used it

    def err(self, row: Row, column: str, message: str) -> None:
        self.errors.append(RowError(row.number, column, message))

    def plan(self, groups: dict[str, list[Row]]) -> list[ProductPlan]:
        existing = _existing_products(self.shop, list(groups))
        skus = sorted({row[SKU] for rows in groups.values() for row in rows if row[SKU]})
        self.sku_owners = _sku_owners(self.shop, skus)
        plans = []
        total = sum(len(rows) for rows in groups.values())
        checked = reported = 0
        for handle, rows in groups.items():
            plan = _ProductPlanner(self, handle, rows, existing.get(handle)).plan()
            if plan is not None:
                plans.append(plan)
            checked += len(rows)
            if self.progress is not None and checked - reported >= self.PROGRESS_EVERY:
                self.progress(checked, total)
                reported = checked
        if self.progress is not None:
            self.progress(checked, total)
        return plans


def chunks(items: list, size: int = _IN_CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _existing_products(shop: Shop, handles: list[str]) -> dict[str, Product]:
    found = {}
    for chunk in chunks(handles):
        qs = shop.products.filter(handle__in=chunk).prefetch_related(
            Prefetch("variants", queryset=Variant.objects.order_by("position", "id")), "images"
        )
        found.update({p.handle: p for p in qs})
    return found


def _sku_owners(shop: Shop, skus: list[str]) -> dict[str, Variant]:
    owners = {}
    for chunk in chunks(skus):
        qs = Variant.objects.filter(shop=shop, sku__in=chunk).select_related("product")
        owners.update({v.sku: v for v in qs})
    return owners


def _label(options) -> str:
    return " / ".join(o for o in options if o) or "(no options)"


class _ProductPlanner:
    """The rows of one Handle: the product, its variants (matched by SKU or options), images."""

    def __init__(
        self, importer: ImportPlanner, handle: str, rows: list[Row], product: Product | None
    ):
        self.importer = importer
        self.err = importer.err
        self.handle = handle
        self.rows = rows
        self.product = product
        variants = list(product.variants.all()) if product is not None else []
        self.by_sku = {v.sku: v for v in variants if v.sku}
        self.by_options = {(v.option1, v.option2, v.option3): v for v in variants}
        self.matched: dict[int, int] = {}  # variant pk -> the row that updates it
        self.seen_options: dict[tuple, int] = {}  # options -> the row that first used them
        self.names = ["", "", ""]
        self.default_title = False

    def plan(self) -> ProductPlan | None:
        first = self.rows[0]
        plan = ProductPlan(handle=self.handle, row=first.number, product=self.product)
        if first[TITLE]:
            _plan_product_fields(plan, first, self.err)
        elif self.product is None:
            self.err(
                first,
                TITLE,
                f"There is no product “{self.handle}” in your shop, so the first row of this "
                "handle needs a Title.",
            )
            return None
        variant_rows = [
            r for r in self.rows if any(r[c] for c in (*OPTION_VALUES, SKU, PRICE, COMPARE_AT, QTY))
        ]
        self._option_names(plan, variant_rows)
        for row in variant_rows:
            variant_plan = self._variant(row)
            if variant_plan is not None:
                plan.variants.append(variant_plan)
        self._check_untouched_variants(plan)
        self._images(plan)
        self._check_has_variant(plan, variant_rows)
        return plan

    def _option_names(self, plan: ProductPlan, variant_rows: list[Row]) -> None:
        # Option names: from this file's product row, else the product's own.
        if "option1_name" in plan.fields:
            names = [plan.fields[f"option{i}_name"] for i in (1, 2, 3)]
        elif self.product is not None:
            p = self.product
            names = [p.option1_name, p.option2_name, p.option3_name]
        else:
            names = ["", "", ""]
        # Shopify's "Title: Default Title" means the product has no options.
        self.default_title = (
            names[0] == DEFAULT_OPTION_NAME
            and not names[1]
            and not names[2]
            and all(r[OPTION_VALUES[0]] in ("", DEFAULT_OPTION_VALUE) for r in variant_rows)
        )
        if self.default_title:
            names = ["", "", ""]
            if "option1_name" in plan.fields:
                plan.fields["option1_name"] = ""
        self.names = names

    # --- one variant row ---

    def _variant(self, row: Row) -> VariantPlan | None:
        errors_before = len(self.importer.errors)
        options = self._option_values(row)
        sku = row[SKU]
        self._check_sku(row, sku)
        self._check_repeated_options(row, options)
        existing = self._existing_variant(row, sku, options)
        price, compare_at, quantity = self._amounts(row, existing)
        if len(self.importer.errors) > errors_before:
            return None
        return VariantPlan(
            row=row.number,
            sku=sku,
            options=options,
            price_amount=price,
            compare_at_amount=compare_at,
            quantity=quantity,
            existing=existing,
        )

    def _option_values(self, row: Row) -> tuple[str, str, str]:
        values = ["" if self.default_title else row[c] for c in OPTION_VALUES]
        for i, (name, value) in enumerate(zip(self.names, values, strict=True)):
            column = OPTION_VALUES[i]
            if name and not value:
                self.err(row, column, f"Give a value for the option “{name}”.")
            elif value and not name:
                message = f"{column} is given but the product has no {OPTION_NAMES[i]}."
                self.err(row, column, message)
            elif len(value) > 100:
                self.err(row, column, "An option value has at most 100 characters.")
        return (values[0], values[1], values[2])

    def _check_sku(self, row: Row, sku: str) -> None:
        seen_skus = self.importer.seen_skus
        if len(sku) > 64:
            self.err(row, SKU, "A SKU has at most 64 characters.")
        elif sku in seen_skus:
            self.err(row, SKU, f"SKU {sku} is already used on row {seen_skus[sku]}.")
        elif sku:
            seen_skus[sku] = row.number
            owner = self.importer.sku_owners.get(sku)
            if owner is not None and (self.product is None or owner.product_id != self.product.pk):
                self.err(
                    row,
                    SKU,
                    f"SKU {sku} already belongs to another product of your shop: "
                    f"{owner.product.title} ({owner.product.handle}).",
                )

    def _check_repeated_options(self, row: Row, options: tuple) -> None:
        if options not in self.seen_options:
            self.seen_options[options] = row.number
            return
        hint = "" if any(self.names) else " Add Option1 Name to sell several variants."
        self.err(
            row,
            OPTION_VALUES[0],
            f"Row {self.seen_options[options]} already has the variant {_label(options)} of "
            f"this product.{hint}",
        )

    def _existing_variant(self, row: Row, sku: str, options: tuple) -> Variant | None:
        existing = self.by_sku.get(sku) if sku else None
        if existing is None and self.product is not None:
            candidate = self.by_options.get(options)
            if candidate is not None and sku and candidate.sku and candidate.sku != sku:
                self.err(
                    row,
                    SKU,
                    f"The variant {_label(options)} of this product has SKU {candidate.sku}; "
                    "use that SKU or other option values.",
                )
            elif candidate is not None:
                existing = candidate
        if existing is not None:
            if existing.pk in self.matched:
                self.err(row, SKU, f"Row {self.matched[existing.pk]} already updates this variant.")
            else:
                self.matched[existing.pk] = row.number
        return existing

    def _amounts(self, row: Row, existing: Variant | None):
        price = compare_at = quantity = None
        if row[PRICE]:
            price = parse_money(row, PRICE, self.err)
            if price is not None and price <= 0:
                self.err(row, PRICE, "Variant Price must be more than 0.")
        elif existing is None:
            self.err(row, PRICE, "Variant Price is required for a new variant.")
        if row[COMPARE_AT]:
            compare_at = parse_money(row, COMPARE_AT, self.err)
            effective = price if price is not None else getattr(existing, "price_amount", None)
            if compare_at is not None and effective is not None and compare_at <= effective:
                self.err(
                    row,
                    COMPARE_AT,
                    f"Variant Compare At Price ({row[COMPARE_AT]}) must be higher than the "
                    f"price ({format_amount(effective)}), or left blank.",
                )
        if row[QTY]:
            quantity = parse_quantity(row, self.err)
        return price, compare_at, quantity

    # --- across the product's rows ---

    def _check_untouched_variants(self, plan: ProductPlan) -> None:
        """A changed or new option combination must not collide with a variant the file
        leaves alone."""
        if self.product is None:
            return
        untouched = {
            options: v for options, v in self.by_options.items() if v.pk not in self.matched
        }
        for vp in plan.variants:
            other = untouched.get(vp.options)
            if other is not None:
                sku = f" (SKU {other.sku})" if other.sku else ""
                self.importer.errors.append(
                    RowError(
                        vp.row,
                        OPTION_VALUES[0],
                        f"The product already has the variant {_label(vp.options)}{sku}; "
                        "give its SKU to update it.",
                    )
                )

    def _images(self, plan: ProductPlan) -> None:
        seen_images: set[str] = set()
        for row in self.rows:
            src = row[IMAGE_SRC]
            if src and src not in seen_images:
                seen_images.add(src)
                image_plan = _plan_image(row, product=self.product, err=self.err)
                if image_plan is not None:
                    plan.images.append(image_plan)

    def _check_has_variant(self, plan: ProductPlan, variant_rows: list[Row]) -> None:
        first = self.rows[0]
        if self.product is None and not variant_rows:
            self.err(first, PRICE, "This product has no variant: give at least a Variant Price.")
        if (
            plan.status == Product.Status.ACTIVE
            and not plan.variants
            and self.product is not None
            and not self.by_options
        ):
            self.err(first, STATUS, "An active product needs a variant with a Variant Price.")


# --- the product row -----------------------------------------------------------------------


def _plan_product_fields(plan: ProductPlan, first: Row, err) -> None:
    _plan_text_fields(plan, first, err)
    _plan_option_names(plan, first, err)
    _plan_status(plan, first, err)


def _plan_text_fields(plan: ProductPlan, first: Row, err) -> None:
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
        plan.category_name = (path or first[TYPE])[:80].strip()
    if first.has(TAGS):
        plan.tags = [t.strip() for t in first[TAGS].split(",") if t.strip()]


def _plan_option_names(plan: ProductPlan, first: Row, err) -> None:
    if not any(first.has(c) for c in OPTION_NAMES):
        return
    names = [first[c] for c in OPTION_NAMES]
    for i, name in enumerate(names):
        if len(name) > 60:
            err(first, OPTION_NAMES[i], "An option name has at most 60 characters.")
        if name and i and not names[i - 1]:
            err(
                first, OPTION_NAMES[i], f"{OPTION_NAMES[i]} is given without {OPTION_NAMES[i - 1]}."
            )
        if name and name.lower() in (n.lower() for n in names[:i]):
            err(first, OPTION_NAMES[i], f"The option name “{name}” is used twice.")
    for i, name in enumerate(names, start=1):
        plan.fields[f"option{i}_name"] = name


def _plan_status(plan: ProductPlan, first: Row, err) -> None:
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


# --- images --------------------------------------------------------------------------------

_url_validator = URLValidator(schemes=["http", "https"])


def _plan_image(row: Row, *, product: Product | None, err) -> ImagePlan | None:
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
    return ImagePlan(row=row.number, url=url, position=position, alt_text=alt)


def _known_image(product: Product, url: str) -> bool:
    for img in product.images.all():
        if img.source_url == url or (img.image and url.endswith(img.image.url)):
            return True
    return False
