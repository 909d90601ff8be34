"""Stock reservation (DESIGN.md section 4): one conditional UPDATE per variant."""

from django.db.models import F

from shops import tab_cache
from shops.models import Variant

from ..errors import SoldOut


def reserve(*, variant_id: int, quantity: int, shop_id: int | None = None) -> None:
    """Take `quantity` units or raise SoldOut; call inside the order's transaction.

    `shop_id` (the variant's) saves a query in telling its shopping tab the stock moved."""
    taken = Variant.objects.filter(pk=variant_id, quantity__gte=quantity).update(
        quantity=F("quantity") - quantity
    )
    if taken:
        _stock_changed(variant_id, shop_id)
    if not taken:
        raise SoldOut(
            "Sorry, that item just sold out."
            if quantity == 1
            else f"Sorry, fewer than {quantity} are left."
        )


def release(*, variant_id: int, quantity: int, shop_id: int | None = None) -> None:
    Variant.objects.filter(pk=variant_id).update(quantity=F("quantity") + quantity)
    _stock_changed(variant_id, shop_id)


def _stock_changed(variant_id: int, shop_id: int | None) -> None:
    if shop_id is None:
        shop_id = Variant.objects.filter(pk=variant_id).values_list("shop_id", flat=True).first()
    if shop_id is not None:
        tab_cache.changed(shop_id)
