"""The shopper's cart: every write to it (add, change, remove, merge at login, restore).

A signed-in shopper has one cart; an anonymous one gets a cart keyed by a random token kept
in their session (not the session id, which login rotates) and merged into their own at
login. Nothing here reserves stock: `orders.checkout.services.start_checkout` does, all or
nothing.
"""

import secrets
from collections.abc import Sequence

from django.db import transaction

from shopfeed.errors import NotFound, ShopFeedError
from shops.models import Variant

from ..errors import IllegalTransition
from ..models import Cart, CartItem, Checkout, SaleSource
from .validation import MAX_QUANTITY, attribute_sale, check_buyable, clean_quantity

# Session keys: the anonymous cart's token, and the item count the header shows.
SESSION_CART_KEY = "cart_key"
SESSION_COUNT_KEY = "cart_count"


def get_or_create_cart(*, user=None, session_key: str | None = None) -> Cart:
    if user is not None and user.is_authenticated:
        return Cart.objects.get_or_create(user=user)[0]
    if not session_key:
        raise ValueError("an anonymous cart needs a session key")
    return Cart.objects.get_or_create(session_key=session_key, user__isnull=True)[0]


def new_session_key() -> str:
    return secrets.token_urlsafe(24)


def lock_cart(cart: Cart) -> Cart:
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

    The line keeps the source of its latest add (the last thing that made the shopper buy),
    as far as that source's owner vouches for it (validation.attribute_sale).
    """
    quantity = clean_quantity(quantity)
    source, source_ref = attribute_sale(
        source=source, source_ref=source_ref, product=variant.product
    )
    cart = lock_cart(cart)
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
    check_buyable(variant=variant, quantity=total, buyer=buyer)
    if item is None:
        item = CartItem(cart=cart, variant=variant)
    item.quantity = total
    item.source, item.source_ref = source, source_ref
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
    cart = lock_cart(cart)
    item = _item(cart, item_id)
    check_buyable(variant=item.variant, quantity=quantity, buyer=cart.user)
    item.quantity = quantity
    item.save(update_fields=["quantity"])
    cart.save(update_fields=["updated_at"])
    return item


@transaction.atomic
def remove_cart_item(*, cart: Cart, item_id) -> None:
    cart = lock_cart(cart)
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
    cart = lock_cart(get_or_create_cart(user=user))
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
    cart = lock_cart(cart)
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
