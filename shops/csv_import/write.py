"""Write: apply the plans in bulk, inside the caller's transaction.

A row-by-row write through the shop services took 75 s for 5,000 products; this writes
each kind of row with a few bulk statements, so the query count grows with the file's size
in steps of a batch, not a row. The plan has already checked every rule the services check
(one variant at least for an active product, compare-at above the price, unique SKUs and
option values, the lengths and formats of fields); here each row is validated again in
memory and the database constraints catch a change made at the same moment.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db.models import Max
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.text import slugify

from .. import services, tab_cache
from ..csv_format import (
    BODY,
    CATEGORY,
    COMPARE_AT,
    HANDLE,
    IMAGE_ALT,
    IMAGE_POSITION,
    IMAGE_SRC,
    OPTION_NAMES,
    OPTION_VALUES,
    PRICE,
    QTY,
    SKU,
    STATUS,
    TITLE,
    TYPE,
    VENDOR,
)
from ..models import Category, Product, ProductImage, Shop, Tag, Variant
from .plan import ProductPlan, VariantPlan, chunks
from .report import ImportReport, RowError

BATCH = 500
CONFLICT_MESSAGE = "This conflicts with a change made at the same time; import again."

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


class WriteFailed(Exception):
    """A rule refused a write after planning; the transaction must roll back."""

    def __init__(self, error: RowError):
        self.error = error
        super().__init__(str(error))


def _validate(obj, *, row: int, column: str, exclude: Iterable[str] = ()) -> None:
    """The model's own field rules, in memory; a refusal aborts the import at its row."""
    try:
        obj.clean_fields(exclude=list(exclude))
    except ValidationError as exc:
        name, messages = next(iter(exc.message_dict.items()))
        error = RowError(row, _FIELD_COLUMNS.get(name, column), " ".join(messages))
        raise WriteFailed(error) from exc


def write_plans(plans: list[ProductPlan], *, shop: Shop, report: ImportReport) -> None:
    _BulkWriter(shop=shop, report=report).write(plans)
    tab_cache.changed(shop.pk)  # bulk writes send no save signals


class _BulkWriter:
    def __init__(self, *, shop: Shop, report: ImportReport):
        self.shop = shop
        self.report = report
        self.now = timezone.now()

    def write(self, plans: list[ProductPlan]) -> None:
        # In file order: the first spelling of a new category or tag is the one kept.
        categories = _categories([p.category_name for p in plans if p.category_name])
        products = self._products(plans, categories)
        self._tags(plans, products)
        self._variants(plans, products)
        self._images(plans, products)

    # --- products ---

    def _products(self, plans: list[ProductPlan], categories: dict) -> list[Product]:
        """Each plan's product, created or updated (and locked), in plan order."""
        locked = _locked(Product, [p.product.pk for p in plans if p.product is not None])
        last = self.shop.products.aggregate(last=Max("tab_position"))["last"] or 0
        products, new, changed = [], [], defaultdict(list)
        for plan in plans:
            fields = dict(plan.fields)
            if plan.category_name is not None:
                fields["category"] = categories.get(plan.category_name.lower())
            if plan.product is None:
                last += 1
                product = self._new_product(plan, fields, tab_position=last)
                new.append(product)
            else:
                product = locked[plan.product.pk]
                names = self._change_product(product, plan, fields)
                changed[names].append(product)
            products.append(product)
        Product.objects.bulk_create(new, batch_size=BATCH)
        for names, group in changed.items():
            if names:
                _update(Product, group, names)
        self.report.products_created += len(new)
        self.report.products_updated += len(plans) - len(new)
        return products

    def _new_product(self, plan: ProductPlan, fields: dict, *, tab_position: int) -> Product:
        product = Product(
            shop=self.shop,
            handle=plan.handle,
            status=plan.status or Product.Status.DRAFT,
            tab_position=tab_position,
            **fields,
        )
        # The shop and category were just loaded; a check would cost a query per row.
        _validate(product, row=plan.row, column=TITLE, exclude=["shop", "category"])
        return product

    def _change_product(self, product: Product, plan: ProductPlan, fields: dict) -> tuple:
        """Apply the plan to the locked product; the fields to write, () for none."""
        for name, value in fields.items():
            setattr(product, name, value)
        if plan.status is not None and plan.status != product.status:
            product.status = plan.status
            fields["status"] = plan.status
        if not fields and plan.tags is None:
            return ()
        _validate(product, row=plan.row, column=TITLE, exclude=["shop", "category"])
        product.updated_at = self.now
        return (*sorted(fields), "updated_at")

    def _tags(self, plans: list[ProductPlan], products: list[Product]) -> None:
        wanted = [
            (plan, product, _clean_tag_names(plan.tags))
            for plan, product in zip(plans, products, strict=True)
            if plan.tags is not None
        ]
        if not wanted:
            return
        tags = _tags([name for _, _, names in wanted for name in names])
        through = Product.tags.through
        replaced = [product.pk for plan, product, _ in wanted if plan.product is not None]
        for chunk in chunks(replaced, BATCH):
            through.objects.filter(product_id__in=chunk).delete()
        links = [
            through(product_id=product.pk, tag_id=tags[name.lower()].pk)
            for _, product, names in wanted
            for name in names
        ]
        through.objects.bulk_create(links, batch_size=BATCH)

    # --- variants ---

    def _variants(self, plans: list[ProductPlan], products: list[Product]) -> None:
        existing_ids = [vp.existing.pk for plan in plans for vp in plan.variants if vp.existing]
        locked = _locked(Variant, existing_ids)
        next_position = _next_positions(
            Variant, [p.pk for plan, p in zip(plans, products, strict=True) if plan.product]
        )
        new, changed = [], defaultdict(list)
        for plan, product in zip(plans, products, strict=True):
            for vp in plan.variants:
                if vp.existing is None:
                    position = next_position.get(product.pk, 0)
                    next_position[product.pk] = position + 1
                    new.append(self._new_variant(product, vp, position=position))
                else:
                    variant = locked[vp.existing.pk]
                    changed[self._change_variant(variant, vp)].append(variant)
        Variant.objects.bulk_create(new, batch_size=BATCH)
        for names, group in changed.items():
            _update(Variant, group, names)
        self.report.variants_created += len(new)
        self.report.variants_updated += len(existing_ids)

    def _new_variant(self, product: Product, vp: VariantPlan, *, position: int) -> Variant:
        assert vp.price_amount is not None, "the planner refuses a new variant without a price"
        variant = Variant(
            product=product,
            shop=self.shop,
            currency=self.shop.currency,
            sku=vp.sku,
            option1=vp.options[0],
            option2=vp.options[1],
            option3=vp.options[2],
            price_amount=vp.price_amount,
            compare_at_amount=vp.compare_at_amount,
            quantity=vp.quantity or 0,
            position=position,
        )
        self._check_variant(variant, vp)
        return variant

    def _change_variant(self, variant: Variant, vp: VariantPlan) -> tuple:
        names = ["sku", "option1", "option2", "option3", "compare_at_amount", "updated_at"]
        variant.sku = vp.sku
        variant.option1, variant.option2, variant.option3 = vp.options
        variant.compare_at_amount = vp.compare_at_amount
        if vp.price_amount is not None:
            variant.price_amount = vp.price_amount
            names.append("price_amount")
        if vp.quantity is not None:
            variant.quantity = vp.quantity
            names.append("quantity")
        variant.updated_at = self.now
        self._check_variant(variant, vp)
        return tuple(names)

    def _check_variant(self, variant: Variant, vp: VariantPlan) -> None:
        _validate(variant, row=vp.row, column=PRICE, exclude=["product", "shop"])
        compare_at = variant.compare_at_amount
        if compare_at is not None and compare_at <= variant.price_amount:
            message = "The compare-at price must be higher than the price."
            raise WriteFailed(RowError(vp.row, COMPARE_AT, message))

    # --- images ---

    def _images(self, plans: list[ProductPlan], products: list[Product]) -> None:
        last = _last_image_positions(
            [p.pk for plan, p in zip(plans, products, strict=True) if plan.product and plan.images]
        )
        new = []
        for plan, product in zip(plans, products, strict=True):
            for ip in plan.images:
                # As services.add_image_source: after the last image unless a position is given.
                top = last.get(product.pk)
                position = ip.position if ip.position is not None else 0 if top is None else top + 1
                last[product.pk] = position if top is None else max(top, position)
                image = ProductImage(
                    product=product, source_url=ip.url, alt_text=ip.alt_text, position=position
                )
                _validate(image, row=ip.row, column=IMAGE_SRC, exclude=["product"])
                new.append(image)
        ProductImage.objects.bulk_create(new, batch_size=BATCH)
        self.report.images_added += len(new)


def _update(model, objs: list, names: tuple) -> None:
    """Write `names` of these existing (locked) rows in batches.

    An upsert on the primary key rather than `bulk_update`: its CASE WHEN per row and field
    took 25 s for 5,000 products and variants, mostly in building the SQL.
    """
    model.objects.bulk_create(
        objs, update_conflicts=True, unique_fields=["id"], update_fields=names, batch_size=BATCH
    )


def _locked(model, pks: list[int]) -> dict:
    """Fresh copies of these rows, locked in primary-key order (the planning copies carry
    prefetched, now stale, relations)."""
    found = {}
    for chunk in chunks(sorted(pks), BATCH):
        qs = model.objects.filter(pk__in=chunk).order_by("pk").select_for_update(of=("self",))
        found.update({obj.pk: obj for obj in qs})
    if len(found) != len(set(pks)):  # deleted since the file was checked
        raise WriteFailed(RowError(0, "", CONFLICT_MESSAGE))
    return found


def _next_positions(model, product_ids: list[int]) -> dict[int, int]:
    """The position the next new variant of each product takes."""
    found = {}
    for chunk in chunks(product_ids, BATCH):
        rows = model.objects.filter(product_id__in=chunk).values("product_id")
        for row in rows.annotate(last=Max("position")):
            found[row["product_id"]] = row["last"] + 1
    return found


def _last_image_positions(product_ids: list[int]) -> dict[int, int]:
    found = {}
    for chunk in chunks(product_ids, BATCH):
        rows = ProductImage.objects.filter(product_id__in=chunk).values("product_id")
        for row in rows.annotate(last=Max("position")):
            found[row["product_id"]] = row["last"]
    return found


def _by_lower_name(model, names: list[str]) -> dict:
    found: dict[str, object] = {}
    for chunk in chunks(sorted({n.lower() for n in names}), BATCH):
        qs = model.objects.annotate(lower_name=Lower("name")).filter(lower_name__in=chunk)
        for obj in qs.order_by("name"):  # as the services' name__iexact .first()
            found.setdefault(obj.name.lower(), obj)
    return found


def _missing(names: list[str], found: dict) -> dict[str, str]:
    """Lower-cased name -> its first spelling, for the names not found."""
    missing: dict[str, str] = {}
    for name in names:
        if name.lower() not in found:
            missing.setdefault(name.lower(), name)
    return missing


def _categories(names: list[str]) -> dict[str, Category]:
    """Category by lower-cased name, the missing ones created (as get_or_create_category)."""
    found = _by_lower_name(Category, names)
    missing = _missing(names, found)
    if not missing:
        return found
    slugs = {key: slugify(name)[:70] or "item" for key, name in missing.items()}
    taken = set(
        Category.objects.filter(slug__in=set(slugs.values())).values_list("slug", flat=True)
    )
    fresh, clashing = [], []
    for key, name in missing.items():
        if slugs[key] in taken:
            clashing.append(name)  # rare: the service finds the next free "-2" slug
        else:
            taken.add(slugs[key])
            fresh.append(Category(name=name, slug=slugs[key]))
    Category.objects.bulk_create(fresh, batch_size=BATCH)
    found.update({c.name.lower(): c for c in fresh})
    for name in clashing:
        found[name.lower()] = services.get_or_create_category(name)
    return found


def _clean_tag_names(raw: list[str]) -> list[str]:
    """As services.set_tags: trimmed to 60 characters, each name once whatever its case."""
    clean: dict[str, str] = {}
    for name in raw:
        name = name.strip()[:60]
        if name:
            clean.setdefault(name.lower(), name)
    return list(clean.values())


def _tags(names: list[str]) -> dict[str, Tag]:
    found = _by_lower_name(Tag, names)
    new = [Tag(name=name) for name in _missing(names, found).values()]
    Tag.objects.bulk_create(new, batch_size=BATCH)
    found.update({t.name.lower(): t for t in new})
    return found
