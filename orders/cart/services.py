"""The shopper's cart and "Buy now": what may be bought, in what quantity, from where.

A signed-in shopper has one cart; an anonymous one gets a cart keyed by a random token kept
in their session (not the session id, which login rotates) and merged into their own at
login. Nothing here reserves stock: `orders.checkout.start_checkout` does, all or nothing.
"""

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery

from shopfeed.errors import NotFound, ShopFeedError
from shops.models import Product, ProductImage, Shop, Variant

from .. import gateway
from ..checkout.services import MAX_QUANTITY_PER_LINE, LineRequest
from ..errors import IllegalTransition, SoldOut
from ..models import Cart, CartItem, Checkout, SaleSource

MAX_QUANTITY = MAX_QUANTITY_PER_LINE
# Session keys: the anonymous cart's token, and the item count the header shows.
SESSION_CART_KEY = "cart_key"
SESSION_COUNT_KEY = "cart_count"


# --- validation ------------------------------------------------------------------------------


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


def _check_buyable(*, variant: Variant, quantity: int, buyer=None) -> None:
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


# --- carts -----------------------------------------------------------------------------------


def get_cart(*, user=None, session_key: str | None = None) -> Cart | None:
    """The signed-in user's cart, else the anonymous cart with this token; None if neither."""
    if user is not None and user.is_authenticated:
        return Cart.objects.filter(user=user).first()
    if session_key:
        return Cart.objects.filter(session_key=session_key, user__isnull=True).first()
    return None


def get_or_create_cart(*, user=None, session_key: str | None = None) -> Cart:
    if user is not None and user.is_authenticated:
        return Cart.objects.get_or_create(user=user)[0]
    if not session_key:
        raise ValueError("an anonymous cart needs a session key")
    return Cart.objects.get_or_create(session_key=session_key, user__isnull=True)[0]


def new_session_key() -> str:
    return secrets.token_urlsafe(24)


def _locked(cart: Cart) -> Cart:
    # One writer per cart at a time: two quick "add" clicks must not lose a quantity.
    return Cart.objects.select_for_update().get(pk=cart.pk)


@transaction.atomic
def add_to_cart(
    *,
    cart: Cart,
    variant: Variant,
    quantity,
    source: str = SaleSource.PRODUCT_PAGE,
    source_ref: str = "",
    buyer=None,
) -> CartItem:
    """Put `quantity` more of `variant` in the cart (adding to what is there).

    The line keeps the source of its latest add (the last thing that made the shopper buy).
    """
    quantity = clean_quantity(quantity)
    source = clean_source(source)
    cart = _locked(cart)
    buyer = buyer if buyer is not None else cart.user
    item = CartItem.objects.filter(cart=cart, variant=variant).first()
    total = quantity + (item.quantity if item else 0)
    if total > MAX_QUANTITY:
        raise ShopFeedError(
            f"At most {MAX_QUANTITY} of one item per order"
            + (f"; you already have {item.quantity} in your cart." if item else "."),
            code="bad_quantity",
            field="quantity",
        )
    _check_buyable(variant=variant, quantity=total, buyer=buyer)
    if item is None:
        item = CartItem(cart=cart, variant=variant)
    item.quantity = total
    item.source = source
    item.source_ref = (source_ref or "")[:64]
    item.save()
    cart.save(update_fields=["updated_at"])
    return item


def _item(cart: Cart, item_id) -> CartItem:
    try:
        return CartItem.objects.select_related("variant__product", "variant__shop").get(
            pk=int(item_id), cart=cart
        )
    except (CartItem.DoesNotExist, TypeError, ValueError):
        raise NotFound("That item is not in your cart.", code="not_in_cart") from None


@transaction.atomic
def update_cart_item(*, cart: Cart, item_id, quantity) -> CartItem:
    quantity = clean_quantity(quantity)
    cart = _locked(cart)
    item = _item(cart, item_id)
    _check_buyable(variant=item.variant, quantity=quantity, buyer=cart.user)
    item.quantity = quantity
    item.save(update_fields=["quantity"])
    cart.save(update_fields=["updated_at"])
    return item


@transaction.atomic
def remove_cart_item(*, cart: Cart, item_id) -> None:
    cart = _locked(cart)
    _item(cart, item_id).delete()
    cart.save(update_fields=["updated_at"])


@transaction.atomic
def merge_session_cart_into_user_cart(*, session_key: str, user) -> Cart | None:
    """At login: move the anonymous cart's lines into the user's cart, then delete it.

    Quantities of a variant in both are summed and capped at the per-line maximum.
    """
    anon = (
        Cart.objects.select_for_update()
        .filter(session_key=session_key, user__isnull=True)
        .prefetch_related("items")
        .first()
    )
    if anon is None:
        return None
    cart = _locked(get_or_create_cart(user=user))
    existing = {item.variant_id: item for item in cart.items.all()}
    for line in anon.items.all():
        mine = existing.get(line.variant_id)
        if mine is None:
            CartItem.objects.create(
                cart=cart,
                variant_id=line.variant_id,
                quantity=min(line.quantity, MAX_QUANTITY),
                source=line.source,
                source_ref=line.source_ref,
            )
        else:
            mine.quantity = min(mine.quantity + line.quantity, MAX_QUANTITY)
            mine.source, mine.source_ref = line.source, line.source_ref
            mine.save(update_fields=["quantity", "source", "source_ref"])
    anon.delete()
    cart.save(update_fields=["updated_at"])
    return cart


def remove_checked_out_items(*, cart: Cart, variant_ids: Sequence[int]) -> None:
    """Once a checkout holds these lines (and their stock), the cart lets go of them."""
    CartItem.objects.filter(cart=cart, variant_id__in=list(variant_ids)).delete()


@transaction.atomic
def restore_checkout_to_cart(*, checkout: Checkout, cart: Cart) -> int:
    """A checkout that ended unpaid gives its lines back to the buyer's cart; returns how many.

    Running it twice changes nothing: a line already there keeps the larger quantity.
    """
    if checkout.status in (Checkout.Status.OPEN, Checkout.Status.PAID):
        raise IllegalTransition("Only a checkout that was not paid can go back to the cart.")
    cart = _locked(cart)
    existing = {item.variant_id: item for item in cart.items.all()}
    restored = 0
    for order in checkout.orders.prefetch_related("items"):
        for line in order.items.all():
            quantity = min(line.quantity, MAX_QUANTITY)
            item = existing.get(line.variant_id)
            if item is None:
                existing[line.variant_id] = CartItem.objects.create(
                    cart=cart,
                    variant_id=line.variant_id,
                    quantity=quantity,
                    source=order.source,
                    source_ref=order.source_ref,
                )
            elif item.quantity < quantity:
                item.quantity = quantity
                item.save(update_fields=["quantity"])
            restored += 1
    cart.save(update_fields=["updated_at"])
    return restored


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


def item_count(*, cart: Cart | None) -> int:
    if cart is None:
        return 0
    return sum(cart.items.values_list("quantity", flat=True))


# --- buy now ---------------------------------------------------------------------------------


def buy_now_line(
    *,
    variant: Variant,
    quantity,
    source: str = SaleSource.PRODUCT_PAGE,
    source_ref: str = "",
    buyer=None,
) -> LineRequest:
    """One variant straight to checkout (product page now, the live page later)."""
    quantity = clean_quantity(quantity)
    source = clean_source(source)
    _check_buyable(variant=variant, quantity=quantity, buyer=buyer)
    return LineRequest(
        variant_id=variant.pk, quantity=quantity, source=source, source_ref=(source_ref or "")[:64]
    )


# --- what the pages show ----------------------------------------------------------------------


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
        _check_buyable(variant=variant, quantity=quantity, buyer=buyer)
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


def lines_summary(*, lines: Sequence[LineRequest], buyer=None) -> Summary:
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


# --- login -----------------------------------------------------------------------------------


def merge_on_login(sender, request, user, **kwargs):
    """`user_logged_in` receiver: the anonymous cart follows the shopper into their account."""
    session = getattr(request, "session", None)
    if session is None:
        return
    key = session.pop(SESSION_CART_KEY, None)
    cart = merge_session_cart_into_user_cart(session_key=key, user=user) if key else None
    session[SESSION_COUNT_KEY] = item_count(cart=cart or get_cart(user=user))


# --- paying on localstripe --------------------------------------------------------------------

_PAYMENT_METHOD_ID = re.compile(r"(card|pm|src)_[A-Za-z0-9]{1,200}")


def confirm_card_on_local_stripe(*, checkout: Checkout, payment_method: str) -> str:
    """Development only: attach the card localstripe tokenised in the browser, and confirm.

    Returns the PaymentIntent's status; the order still becomes paid only from the webhook.
    """
    if not _PAYMENT_METHOD_ID.fullmatch(payment_method or ""):
        raise ShopFeedError("The card could not be read; enter it again.", code="bad_card")
    if checkout.status != Checkout.Status.OPEN or not checkout.payment_intent_id:
        raise IllegalTransition("This checkout cannot be paid any more.")
    pi = gateway.confirm_payment_intent(
        checkout.payment_intent_id,
        payment_method=payment_method,
        idempotency_key=f"{checkout.idempotency_key}-confirm-{payment_method}",
    )
    return pi.status
