"""Checking out: place an order from the cart or "Buy now" (address, stock reservation and
one order per shop, all or nothing), and give an unpaid checkout's stock back."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from shopfeed.errors import ShopFeedError
from shops.models import Product, Shop, Variant

from .. import signals
from ..addresses import services as addresses
from ..cart import services as carts
from ..cart.validation import MAX_QUANTITY, attribute_sale, check_buyable, clean_quantity
from ..models import Address, Cart, Checkout, Order, OrderEvent, OrderItem, SaleSource
from . import stock

MAX_QUANTITY_PER_LINE = MAX_QUANTITY


@dataclass(frozen=True)
class LineRequest:
    variant_id: int
    quantity: int
    # As orders.cart.validation.attribute_sale recorded it (buy_now_line, the cart's add):
    # whatever a form claimed, a place is credited only when its owner vouched for it.
    source: str = SaleSource.PRODUCT_PAGE
    source_ref: str = ""
    # A price other than the variant's (a live flash deal); checked by the caller's service.
    unit_price_amount: int | None = None


def platform_fee(amount: int) -> int:
    return amount * settings.PLATFORM_FEE_BPS // 10_000


@lru_cache(maxsize=4096)
def _normalized(items: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    # The country rules are read from files on each call (~0.5 ms): a hot path pays once.
    return tuple(addresses.normalize_address(dict(items)).items())


def _normalize(data: dict) -> dict:
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        return addresses.normalize_address(data)
    return dict(_normalized(tuple(sorted(data.items()))))


def address_snapshot(address: Address | dict) -> dict:
    """What the order keeps: the address normalised by its country's rules."""
    if not isinstance(address, Address):
        return _normalize(dict(address))  # ValidationError per field
    try:
        return _normalize(address.snapshot())
    except ValidationError as exc:
        # Saved before addresses were checked per country: the buyer enters it again.
        raise ShopFeedError(
            f"Your saved address is incomplete ({' '.join(exc.messages)}) "
            "Enter it again as a new address.",
            code="address_incomplete",
        ) from None


def merge_lines(lines: Sequence[LineRequest]) -> list[LineRequest]:
    merged: dict[int, LineRequest] = {}
    for line in lines:
        if not isinstance(line.quantity, int) or line.quantity < 1:
            raise ShopFeedError(
                "Quantities must be whole numbers of at least 1.", code="bad_quantity"
            )
        if line.source not in SaleSource.values:
            raise ShopFeedError(f"Unknown sale source {line.source!r}.", code="bad_source")
        prev = merged.get(line.variant_id)
        if prev is not None:
            line = LineRequest(
                line.variant_id,
                prev.quantity + line.quantity,
                prev.source,
                prev.source_ref,
                prev.unit_price_amount,
            )
        if line.quantity > MAX_QUANTITY_PER_LINE:
            raise ShopFeedError(
                f"At most {MAX_QUANTITY_PER_LINE} of one item per order.", code="bad_quantity"
            )
        merged[line.variant_id] = line
    if not merged:
        raise ShopFeedError("Your cart is empty.", code="empty_cart")
    return list(merged.values())


@transaction.atomic
def start_checkout(*, buyer, lines: Sequence[LineRequest], address: Address | dict) -> Checkout:
    """Reserve every line's stock and create the checkout with one order per shop.

    Raises SoldOut (and reserves nothing) if any line cannot be had.
    """
    snapshot = address_snapshot(address)
    lines = merge_lines(lines)
    variants = Variant.objects.select_related("product", "shop").in_bulk(
        [ln.variant_id for ln in lines]
    )
    for line in lines:
        v = variants.get(line.variant_id)
        if (
            v is None
            or v.product.status != Product.Status.ACTIVE
            or v.shop.status != Shop.Status.ACTIVE
        ):
            raise ShopFeedError("An item in your cart is no longer available.", code="unavailable")
        if v.shop.owner_id == buyer.pk:
            raise ShopFeedError("You cannot buy from your own shop.", code="own_shop")
        if v.flash_sale and settings.FLASH_REDIS_URL:
            # Its units are counted in Redis (orders.flash): taking them here would not be.
            raise ShopFeedError(
                f"{v.product.title} is in a flash sale: check it out on its own.",
                code="flash_separately",
            )
    currencies = {variants[ln.variant_id].currency for ln in lines}
    if len(currencies) != 1:
        raise ShopFeedError(
            "Items priced in different currencies must be bought separately.", code="mixed_currency"
        )
    # Reserve in id order so concurrent checkouts of overlapping carts cannot deadlock.
    for line in sorted(lines, key=lambda ln: ln.variant_id):
        stock.reserve(
            variant_id=line.variant_id,
            quantity=line.quantity,
            shop_id=variants[line.variant_id].shop_id,
        )

    by_shop: dict[int, list[LineRequest]] = defaultdict(list)
    for line in lines:
        by_shop[variants[line.variant_id].shop_id].append(line)
    totals = {
        shop_id: sum(_unit_price(variants[ln.variant_id], ln) * ln.quantity for ln in shop_lines)
        for shop_id, shop_lines in by_shop.items()
    }
    checkout = Checkout.objects.create(
        buyer=buyer,
        total_amount=sum(totals.values()),
        currency=currencies.pop(),
        shipping_address=snapshot,
        expires_at=timezone.now() + timedelta(minutes=settings.CHECKOUT_RESERVATION_MINUTES),
    )
    checkout.idempotency_key = f"checkout-{checkout.pk}"
    checkout.save(update_fields=["idempotency_key"])
    for shop_id, shop_lines in by_shop.items():
        first = shop_lines[0]
        order = Order.objects.create(
            checkout=checkout,
            shop_id=shop_id,
            buyer=buyer,
            currency=checkout.currency,
            subtotal_amount=totals[shop_id],
            total_amount=totals[shop_id],
            fee_amount=platform_fee(totals[shop_id]),
            source=first.source,
            source_ref=first.source_ref,
            shipping_address=snapshot,
        )
        OrderItem.objects.bulk_create(
            [
                OrderItem(
                    order=order,
                    variant=variants[ln.variant_id],
                    product_title=variants[ln.variant_id].product.title,
                    variant_label=variants[ln.variant_id].label,
                    sku=variants[ln.variant_id].sku,
                    unit_price_amount=_unit_price(variants[ln.variant_id], ln),
                    quantity=ln.quantity,
                    line_total_amount=_unit_price(variants[ln.variant_id], ln) * ln.quantity,
                )
                for ln in shop_lines
            ]
        )
        OrderEvent.objects.create(order=order, kind="placed", actor=buyer, message="Order placed.")
    return checkout


def _unit_price(variant: Variant, line: LineRequest) -> int:
    return variant.price_amount if line.unit_price_amount is None else line.unit_price_amount


@transaction.atomic
def release_checkout(*, checkout_id: int, status: str = Checkout.Status.EXPIRED) -> bool:
    """Give an unpaid checkout's stock back and cancel its orders; False if not open."""
    checkout = Checkout.objects.select_for_update().get(pk=checkout_id)
    if checkout.status != Checkout.Status.OPEN:
        return False
    now = timezone.now()
    for order in checkout.orders.prefetch_related("items"):
        for item in order.items.all():
            stock.release(variant_id=item.variant_id, quantity=item.quantity, shop_id=order.shop_id)
        order.status = Order.Status.CANCELLED
        order.cancelled_at = now
        order.save(update_fields=["status", "cancelled_at", "updated_at"])
        OrderEvent.objects.create(
            order=order, kind="released", message=f"Checkout {status}: stock returned."
        )
    checkout.status = status
    checkout.save(update_fields=["status", "updated_at"])
    flash.give_back_released(checkout=checkout)
    transaction.on_commit(
        lambda: signals.checkout_released.send(
            sender=Checkout, checkout_id=checkout_id, status=status
        ),
        robust=True,
    )
    return True


# --- what is checked out ----------------------------------------------------------------------


def buy_now_line(
    *,
    variant: Variant,
    quantity,
    source: str = SaleSource.PRODUCT_PAGE,
    source_ref: str = "",
    buyer=None,
) -> LineRequest:
    """One variant straight to checkout (the product page's and the live page's Buy now).

    The source is recorded as far as its owner vouches for it (validation.attribute_sale).
    """
    quantity = clean_quantity(quantity)
    source, source_ref = attribute_sale(
        source=source, source_ref=source_ref, product=variant.product
    )
    check_buyable(variant=variant, quantity=quantity, buyer=buyer)
    return LineRequest(
        variant_id=variant.pk, quantity=quantity, source=source, source_ref=source_ref
    )


def cart_lines_for_checkout(*, cart: Cart) -> list[LineRequest]:
    return [
        LineRequest(
            variant_id=item.variant_id,
            quantity=item.quantity,
            source=item.source,
            source_ref=item.source_ref,
        )
        for item in cart.items.order_by("id")
    ]


@transaction.atomic
def place_order(
    *,
    buyer,
    cart: Cart | None = None,
    lines: Sequence[LineRequest] = (),
    address: dict | None = None,
    save_address: bool = False,
    address_id=None,
) -> "Checkout | flash.Reservation":
    """Check out the buyer's `cart`, or the Buy now `lines`, to a new or a saved address.

    The address (a new one, kept for next time if `save_address`, or the saved `address_id`),
    the reservation and the cart's hand-over happen together or not at all. A single line of
    a flash-sale variant is reserved in Redis instead (orders.flash): the result is then a
    Reservation, which the batch writer turns into the checkout. Raises ShopFeedError
    (SoldOut, empty cart, ...) or ValidationError (a bad new address).
    """
    if cart is not None:
        cart = carts.lock_cart(cart)
        lines = cart_lines_for_checkout(cart=cart)
    if not lines:
        raise ShopFeedError("Your cart is empty.", code="empty_cart")
    if address_id is not None:
        shipping: Address | dict = addresses.get_address(user=buyer, address_id=address_id)
    elif save_address:
        shipping = addresses.save_address(user=buyer, data=address or {})
    else:
        shipping = address or {}
    checkout: Checkout | flash.Reservation
    if len(lines) == 1 and flash.line_takes_fast_path(lines[0]):
        checkout = flash.placed(flash.reserve(buyer=buyer, line=lines[0], address=shipping))
    else:
        checkout = start_checkout(buyer=buyer, lines=lines, address=shipping)
    if cart is not None:
        carts.remove_checked_out_items(cart=cart, variant_ids=[ln.variant_id for ln in lines])
    return checkout


# orders.flash builds on this module (its lines, addresses, checks): imported last, so that
# whichever of the two is imported first, both are complete when used.
from ..flash import services as flash  # noqa: E402
