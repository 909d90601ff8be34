"""What a shopper may put in a cart or buy now: quantities, sale sources, buyable variants.

Shared by the cart's writes (services), its page summaries (selectors) and "Buy now"
(orders.checkout.services), so a line is refused for the same reasons everywhere.
"""

from collections.abc import Callable

from shopfeed.errors import ShopFeedError
from shops.models import Product, Shop, Variant

from ..errors import SoldOut
from ..models import SaleSource

# At most this many of one variant in one cart line or one order.
MAX_QUANTITY = 99


def clean_quantity(value) -> int:
    """A quantity from a form or a caller: a whole number from 1 to 99."""
    try:
        quantity = int(str(value).strip())
    except (TypeError, ValueError):
        raise ShopFeedError(
            "Enter the quantity as a whole number.", code="bad_quantity", field="quantity"
        ) from None
    if not 1 <= quantity <= MAX_QUANTITY:
        raise ShopFeedError(
            f"Choose a quantity from 1 to {MAX_QUANTITY}.", code="bad_quantity", field="quantity"
        )
    return quantity


def clean_source(source: str | None) -> str:
    source = source or SaleSource.PRODUCT_PAGE
    if source not in SaleSource.values:
        raise ShopFeedError(f"Unknown sale source {source!r}.", code="bad_source", field="source")
    return source


# --- where a sale happened --------------------------------------------------------------------

# Sources that name a place (source_ref: a live session, a video) credit that place: its
# "just bought" notices and its summary. Only the app that owns the place can tell whether
# the sale happened there, and it sits above orders, so it registers a validator at startup
# (live in LiveConfig.ready; the feed will for videos). A source nobody vouches for is
# recorded as a plain product-page sale rather than refused: the shopper still buys.
PLACE_SOURCES = frozenset({SaleSource.LIVE, SaleSource.VIDEO})

SourceValidator = Callable[..., bool]  # (*, product: Product, ref: str) -> bool
SOURCE_VALIDATORS: dict[str, SourceValidator] = {}


def register_source_validator(source: str, validator: SourceValidator) -> None:
    """Let the app that owns `source`'s places vouch for sales credited to one of them.

    `validator(product=..., ref=...)` returns True only if `product` was sold in the place
    `ref` names (e.g. it is in that live session's lineup while the session is on air).
    """
    if source not in PLACE_SOURCES:
        raise ValueError(f"{source!r} is not a sale source that names a place")
    SOURCE_VALIDATORS[source] = validator


def attribute_sale(*, source: str | None, source_ref: str | None, product: Product) -> tuple:
    """The (source, source_ref) to record for a sale of `product` the shopper says came from
    `source`/`source_ref`; raises ShopFeedError only for an unknown source."""
    source = clean_source(source)
    if source not in PLACE_SOURCES:
        return source, ""  # a plain source names no place: nothing to credit
    ref = str(source_ref or "").strip()[:64]
    validator = SOURCE_VALIDATORS.get(source)
    if ref and validator is not None and validator(product=product, ref=ref):
        return source, ref
    return SaleSource.PRODUCT_PAGE, ""


def check_buyable(*, variant: Variant, quantity: int, buyer=None) -> None:
    if variant.product.status != Product.Status.ACTIVE or variant.shop.status != Shop.Status.ACTIVE:
        raise ShopFeedError("That item is not available any more.", code="unavailable")
    if buyer is not None and buyer.is_authenticated and variant.shop.owner_id == buyer.pk:
        raise ShopFeedError("You cannot buy from your own shop.", code="own_shop")
    if variant.quantity <= 0:
        raise SoldOut(f"Sorry, {_name(variant)} is sold out.")
    if quantity > variant.quantity:
        raise SoldOut(
            f"Only {variant.quantity} of {_name(variant)} left; choose {variant.quantity} or fewer."
        )


def _name(variant: Variant) -> str:
    return f"{variant.product.title} ({variant.label})" if variant.label else variant.product.title
