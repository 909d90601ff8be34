"""The flash-sale path (DESIGN.md section 4): a hot variant's units, or a live deal's, are taken
in Redis by one Lua script (stock, deal units and the per-buyer limit together), and the batch
writer (orders.flash.writer) turns each reservation into exactly one checkout in PostgreSQL,
which stays the record of stock and orders.

The buyer hears "sold out" from the script at once; a reserved buyer is sent to the
reservation's page, which becomes the pay page as soon as the writer has written the checkout
(usually within milliseconds). An unpaid checkout expires like any other and its units come
back to Redis too (give_back_released).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Sum

from shopfeed.errors import Conflict, ShopFeedError
from shops.models import Product, Shop, Variant
from shops.signals import flash_stock_set

from ..checkout.services import LineRequest, address_snapshot, merge_lines
from ..errors import SoldOut
from ..models import Address, Checkout, FlashReservation
from . import store, writer
from .hooks import deal_hook

# A buyer's held units count while their checkout may still be paid.
HOLDING = (Checkout.Status.OPEN, Checkout.Status.PAID)


class DealOver(Conflict):
    """This flash deal has ended."""

    code = "deal_ended"


@dataclass(frozen=True)
class Reservation:
    """Units held in Redis for a buyer; the writer makes it a checkout (or refuses it)."""

    id: str
    variant_id: int
    quantity: int


@dataclass(frozen=True)
class DealTerms:
    deal_id: int
    unit_price_amount: int


@dataclass(frozen=True)
class VariantFacts:
    """What the hot path checks before reserving, cached per process for a moment: a change
    (archived, shop suspended) may let a reservation through for that moment, and the writer,
    which reads the rows under lock, refuses it."""

    on_sale: bool
    owner_id: int
    limit: int
    flash_sale: bool


_facts: dict[int, tuple[float, VariantFacts | None]] = {}
_facts_lock = threading.Lock()
_prime_lock = threading.Lock()


def variant_facts(variant_id: int) -> VariantFacts | None:
    now = time.monotonic()
    hit = _facts.get(variant_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    with _facts_lock:  # one query per process when it expires, not one per waiting buyer
        hit = _facts.get(variant_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        v = Variant.objects.select_related("product", "shop").filter(pk=variant_id).first()
        facts = None
        if v is not None:
            facts = VariantFacts(
                on_sale=v.product.status == Product.Status.ACTIVE
                and v.shop.status == Shop.Status.ACTIVE,
                owner_id=v.shop.owner_id,
                limit=v.flash_limit_per_buyer or settings.FLASH_LIMIT_PER_BUYER,
                flash_sale=v.flash_sale,
            )
        _facts[variant_id] = (now + settings.FLASH_FACTS_SECONDS, facts)
        return facts


def forget_cached_facts() -> None:
    _facts.clear()


def enabled() -> bool:
    return bool(settings.FLASH_REDIS_URL)


def takes_fast_path(variant: Variant) -> bool:
    return enabled() and variant.flash_sale


def line_takes_fast_path(line: LineRequest) -> bool:
    if not enabled():
        return False
    facts = variant_facts(line.variant_id)
    return facts is not None and facts.flash_sale


def reserve(
    *, buyer, line: LineRequest, address: Address | dict, deal: DealTerms | None = None
) -> Reservation:
    """Hold `line`'s units for `buyer` in Redis, or raise SoldOut / DealOver / a limit error.

    Nothing is written to PostgreSQL here: the writer does it from the reservation.
    """
    snapshot = address_snapshot(address)
    (line,) = merge_lines([line])
    facts = variant_facts(line.variant_id)
    if facts is None or not facts.on_sale:
        raise ShopFeedError("That item is not available any more.", code="unavailable")
    if facts.owner_id == buyer.pk:
        raise ShopFeedError("You cannot buy from your own shop.", code="own_shop")
    limit = facts.limit
    rid = uuid.uuid4().hex
    deal_id = deal.deal_id if deal else 0
    payload = {
        "id": rid,
        "v": line.variant_id,
        "b": buyer.pk,
        "q": line.quantity,
        "d": deal_id,
        "p": deal.unit_price_amount if deal else line.unit_price_amount,
        "a": snapshot,
        "s": line.source,
        "r": line.source_ref,
        "t": int(time.time() * 1000),
    }
    for _ in range(3):
        code, n = store.reserve(
            rid=rid,
            variant_id=line.variant_id,
            buyer_id=buyer.pk,
            quantity=line.quantity,
            limit=limit,
            deal_id=deal_id,
            payload=payload,
        )
        if code == store.RESERVED:
            if settings.FLASH_WRITE_INLINE:
                # "Write right after": this request writes the batch holding its reservation.
                writer.drain(consumer=f"inline-{os.getpid()}", max_batches=5)
            return Reservation(id=rid, variant_id=line.variant_id, quantity=line.quantity)
        if code == store.NEEDS_STOCK:
            with _prime_lock:  # one priming per process, not one per waiting buyer
                if not store.client().exists(store.k("stock", line.variant_id)):
                    prime_variant(variant_id=line.variant_id)
        elif code == store.NEEDS_DEAL:
            hook = deal_hook()
            if hook is None:
                raise DealOver("This flash deal has ended; buy again at the regular price.")
            hook.prime(deal_id=deal_id, force=False)
        elif code == store.DEAL_ENDED:
            raise DealOver("This flash deal has ended; buy again at the regular price.")
        elif code == store.OVER_LIMIT:
            raise ShopFeedError(
                f"This flash sale allows {limit} per buyer and you already hold {n}.",
                code="flash_limit",
                field="quantity",
            )
        elif n <= 0:
            raise SoldOut("Sorry, that item just sold out." if not deal_id else
                          "Sorry, the flash deal just sold out.")  # fmt: skip
        else:
            raise SoldOut(f"Only {n} left; choose {n} or fewer.")
    raise ShopFeedError("The flash sale is busy; try again in a moment.", code="flash_busy")


def placed(reservation: Reservation) -> Checkout | Reservation:
    """The checkout when the reservation is written already (FLASH_WRITE_INLINE), else the
    reservation; SoldOut when the writer refused it."""
    if not settings.FLASH_WRITE_INLINE:
        return reservation
    row = (
        FlashReservation.objects.select_related("checkout")
        .filter(reservation_id=reservation.id)
        .first()
    )
    if row is None:
        return reservation
    if row.status == FlashReservation.Status.REJECTED or row.checkout is None:
        raise SoldOut(f"Sorry, we could not keep that item for you: {row.reason}")
    return row.checkout


@transaction.atomic
def prime_variant(*, variant_id: int, force: bool = False) -> int | None:
    """Load a variant's stock into Redis from PostgreSQL (force: even if Redis has a count).

    Holds the variant's row lock, as the writer does for a batch, so no batch commits between
    reading the stock and setting the count. Returns the count set, None if Redis had one.
    """
    variant = Variant.objects.select_for_update().filter(pk=variant_id).only("quantity").first()
    if variant is None:
        return None
    buyers = dict(
        FlashReservation.objects.filter(
            variant_id=variant_id,
            status=FlashReservation.Status.WRITTEN,
            deal_id__isnull=True,
            checkout__status__in=HOLDING,
        )
        .values("buyer_id")
        .annotate(units=Sum("quantity"))
        .values_list("buyer_id", "units")
    )
    n = store.prime_stock(
        variant_id=variant_id,
        pg_quantity=variant.quantity,
        token=uuid.uuid4().hex,
        force=force,
        buyers=buyers,
    )
    return None if n < 0 else n


def deal_buyers(*, deal_id: int) -> dict[int, int]:
    """Units each buyer holds in a deal (for priming its per-buyer counts)."""
    return dict(
        FlashReservation.objects.filter(
            deal_id=deal_id,
            status=FlashReservation.Status.WRITTEN,
            checkout__status__in=HOLDING,
        )
        .values("buyer_id")
        .annotate(units=Sum("quantity"))
        .values_list("buyer_id", "units")
    )


def give_back_released(*, checkout: Checkout) -> None:
    """release_checkout calls this holding the stock rows' locks: the released units of a
    flash checkout go back to Redis once the release commits."""
    if not enabled():
        return
    held = (
        FlashReservation.objects.filter(checkout=checkout)
        .values_list("variant_id", "quantity", "buyer_id", "deal_id")
        .first()
    )
    if held is None:
        return
    variant_id, quantity, buyer_id, deal_id = held
    # A deal's buyer count is the deal's (live gives the deal's units back).
    counted = 0 if deal_id else buyer_id
    token = store.generation(variant_id)  # read under the row lock priming also takes
    transaction.on_commit(
        lambda: store.give_back(
            variant_id=variant_id, quantity=quantity, buyer_id=counted, token=token
        ),
        robust=True,
    )


def reconcile(*, variant_ids: list[int] | None = None) -> int:
    """Bring Redis's counts back to PostgreSQL's for every flash variant (and running deal).

    Safe while buyers reserve and writers write: each count is PostgreSQL's stock, read under
    the row lock, less the units Redis holds for reservations not yet written.
    """
    if not enabled():
        return 0
    if variant_ids is None:
        variant_ids = list(Variant.objects.filter(flash_sale=True).values_list("pk", flat=True))
    for variant_id in variant_ids:
        prime_variant(variant_id=variant_id, force=True)
    hook = deal_hook()
    return len(variant_ids) + (hook.reconcile() if hook is not None else 0)


def _on_flash_stock_set(sender, *, variant_id: int, **kwargs) -> None:
    """shops.signals.flash_stock_set: a creator marked a variant for flash sale or set its
    stock. Redis's count is read again from PostgreSQL once that commits (a count left from
    an earlier sale would be stale)."""
    if not enabled():
        return
    _facts.pop(variant_id, None)
    transaction.on_commit(lambda: prime_variant(variant_id=variant_id, force=True), robust=True)


def connect() -> None:
    """orders/apps.py calls this at startup."""
    flash_stock_set.connect(_on_flash_stock_set, dispatch_uid="orders.flash.stock_set")
