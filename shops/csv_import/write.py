"""Write: apply the plans through the shop services, all inside the caller's transaction."""

from __future__ import annotations

from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.db.models import Max

from shopfeed.errors import ShopFeedError

from .. import services
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
from ..models import Product, Shop, Variant
from .plan import ProductPlan
from .report import ImportReport, RowError

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
        raise WriteFailed(RowError(row, column, message)) from exc
    except ShopFeedError as exc:
        column = _FIELD_COLUMNS.get(exc.field or "", column)
        raise WriteFailed(RowError(row, column, exc.message)) from exc
    except IntegrityError as exc:  # a change made at the same moment, e.g. the same handle
        message = "This conflicts with a change made at the same time; import again."
        raise WriteFailed(RowError(row, column, message)) from exc


def write_plans(plans: list[ProductPlan], *, shop: Shop, by, report: ImportReport) -> None:
    for plan in plans:
        _apply(plan, shop=shop, by=by, report=report)


def _apply(plan: ProductPlan, *, shop: Shop, by, report: ImportReport) -> None:
    product, next_position = _write_product(plan, shop=shop, by=by, report=report)
    _write_variants(plan, product=product, by=by, next_position=next_position, report=report)
    for ip in plan.images:
        with _row_guard(ip.row, IMAGE_SRC):
            services.add_image_source(
                product=product, by=by, url=ip.url, position=ip.position, alt_text=ip.alt_text
            )
        report.images_added += 1
    if plan.status is not None and plan.status != product.status:
        with _row_guard(plan.row, STATUS):
            services.set_product_status(product=product, by=by, status=plan.status)


def _write_product(plan: ProductPlan, *, shop: Shop, by, report: ImportReport):
    """The created or updated product, and the position its next new variant takes."""
    fields = dict(plan.fields)
    if plan.category_name is not None:
        fields["category"] = services.get_or_create_category(plan.category_name)
    if plan.product is None:
        with _row_guard(plan.row, TITLE):
            product = services.create_product(
                shop=shop, by=by, handle=plan.handle, tags=plan.tags or (), **fields
            )
        report.products_created += 1
        return product, 0
    # Fresh and locked: the planning copy carries prefetched (now stale) relations.
    product = Product.objects.select_for_update().get(pk=plan.product.pk)
    if fields or plan.tags is not None:
        with _row_guard(plan.row, TITLE):
            services.update_product(product=product, by=by, tags=plan.tags, **fields)
    report.products_updated += 1
    last = product.variants.aggregate(last=Max("position"))["last"]
    return product, 0 if last is None else last + 1


def _write_variants(
    plan: ProductPlan, *, product: Product, by, next_position: int, report: ImportReport
) -> None:
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
