"""Stock reservation (DESIGN.md section 4): one conditional UPDATE per variant."""

from django.db.models import F

from shops.models import Variant

from ..errors import SoldOut


def reserve(*, variant_id: int, quantity: int) -> None:
    """Take `quantity` units or raise SoldOut; call inside the order's transaction."""
    taken = Variant.objects.filter(pk=variant_id, quantity__gte=quantity).update(
        quantity=F("quantity") - quantity
    )
    if not taken:
        raise SoldOut(
            "Sorry, that item just sold out."
            if quantity == 1
            else f"Sorry, fewer than {quantity} are left."
        )


def release(*, variant_id: int, quantity: int) -> None:
    Variant.objects.filter(pk=variant_id).update(quantity=F("quantity") + quantity)
