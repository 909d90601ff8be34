"""What the cart and checkout pages show: a shopper's cart, buyable variants, and the lines
grouped by shop with subtotals (loaded in a fixed number of queries)."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db.models import OuterRef, QuerySet, Subquery

from shopfeed.errors import NotFound, ShopFeedError
from shops.models import Product, ProductImage, Shop, Variant

from ..models import Cart, CartItem
from .validation import check_buyable

if TYPE_CHECKING:
    from ..checkout.services import LineRequest


def get_cart(*, user=None, session_key: str | None = None) -> Cart | None:
    """The signed-in user's cart, else the anonymous cart with this token; None if neither."""
    if user is not None and user.is_authenticated:
        return Cart.objects.filter(user=user).first()
    if session_key:
        return Cart.objects.filter(session_key=session_key, user__isnull=True).first()
    return None


def get_buyable_variant(*, variant_id) -> Variant:
    """The variant, if shoppers may see it (active product of an active shop)."""
    try:
        variant_id = int(variant_id)
    except (TypeError, ValueError):
        raise NotFound("Choose an option of the product.", code="bad_variant") from None
    variant = (
        Variant.objects.select_related("product", "shop")
        .filter(
            pk=variant_id,
            product__status=Product.Status.ACTIVE,
            shop__status=Shop.Status.ACTIVE,
        )
        .first()
    )
    if variant is None:
        raise NotFound("That item is not available any more.", code="unavailable")
    return variant


def item_count(*, cart: Cart | None) -> int:
    if cart is None:
        return 0
    return sum(cart.items.values_list("quantity", flat=True))


@dataclass
class SummaryLine:
    variant: Variant
    quantity: int
    unit_price_amount: int
    item_id: int | None = None
    cover_url: str = ""
    problem: str = ""

    @property
    def line_total_amount(self) -> int:
        return self.unit_price_amount * self.quantity

    @property
    def product(self) -> Product:
        return self.variant.product


@dataclass
class ShopGroup:
    shop: Shop
    currency: str
    lines: list[SummaryLine] = field(default_factory=list)

    @property
    def subtotal_amount(self) -> int:
        return sum(line.line_total_amount for line in self.lines)


@dataclass
class Summary:
    groups: list[ShopGroup]

    @property
    def lines(self) -> list[SummaryLine]:
        return [line for group in self.groups for line in group.lines]

    @property
    def count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def currencies(self) -> set[str]:
        return {group.currency for group in self.groups}

    @property
    def currency(self) -> str:
        return next(iter(self.currencies), "")

    @property
    def total_amount(self) -> int | None:
        """The grand total, or None when lines are priced in more than one currency."""
        if len(self.currencies) > 1:
            return None
        return sum(group.subtotal_amount for group in self.groups)

    @property
    def has_problems(self) -> bool:
        return any(line.problem for line in self.lines)


def _cover(field_name: str):
    return Subquery(
        ProductImage.objects.filter(product=OuterRef("variant__product"))
        .order_by("position", "id")
        .values(field_name)[:1]
    )


def _cart_items(cart: Cart) -> QuerySet[CartItem]:
    return (
        cart.items.select_related(
            "variant", "variant__product", "variant__shop", "variant__shop__owner"
        )
        .annotate(
            cover_thumbnail=_cover("thumbnail"),
            cover_image=_cover("image"),
            cover_source_url=_cover("source_url"),
        )
        .order_by("id")
    )


def _cover_url(item) -> str:
    if item.cover_thumbnail:
        return ProductImage._meta.get_field("thumbnail").storage.url(item.cover_thumbnail)
    if item.cover_image:
        return ProductImage._meta.get_field("image").storage.url(item.cover_image)
    return item.cover_source_url or ""


def _problem(variant: Variant, quantity: int, buyer) -> str:
    try:
        check_buyable(variant=variant, quantity=quantity, buyer=buyer)
    except ShopFeedError as exc:
        return exc.message
    return ""


def _group(lines: list[SummaryLine]) -> Summary:
    groups: dict[int, ShopGroup] = {}
    for line in lines:
        shop = line.variant.shop
        group = groups.setdefault(shop.pk, ShopGroup(shop=shop, currency=line.variant.currency))
        group.lines.append(line)
    return Summary(groups=list(groups.values()))


def cart_summary(*, cart: Cart | None, buyer=None) -> Summary:
    """The cart's lines grouped by shop with subtotals, in a fixed number of queries."""
    if cart is None:
        return Summary(groups=[])
    buyer = buyer if buyer is not None else cart.user
    return _group(
        [
            SummaryLine(
                variant=item.variant,
                quantity=item.quantity,
                unit_price_amount=item.variant.price_amount,
                item_id=item.pk,
                cover_url=_cover_url(item),
                problem=_problem(item.variant, item.quantity, buyer),
            )
            for item in _cart_items(cart)
        ]
    )


def lines_summary(*, lines: Sequence["LineRequest"], buyer=None) -> Summary:
    """The same view of lines that are not in a cart (Buy now)."""
    variants = Variant.objects.select_related("product", "shop", "shop__owner").in_bulk(
        [line.variant_id for line in lines]
    )
    return _group(
        [
            SummaryLine(
                variant=variants[line.variant_id],
                quantity=line.quantity,
                unit_price_amount=(
                    variants[line.variant_id].price_amount
                    if line.unit_price_amount is None
                    else line.unit_price_amount
                ),
                problem=_problem(variants[line.variant_id], line.quantity, buyer),
            )
            for line in lines
            if line.variant_id in variants
        ]
    )
