"""Live flash deals on the flash-sale path (orders.flash, DESIGN.md section 4): a deal's units
are taken in Redis by the same Lua script as the variant's stock; here is what orders.flash
asks of live through its DealHook (registered in live/apps.py): priming a deal's Redis count
from its row, and counting written reservations against the deal in the writer's transaction.
"""

import threading
import time
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from live.models import FlashDeal, LineupItem, LiveDealClaim, LiveSession
from orders.cart.validation import attribute_sale
from orders.flash import services as flash
from orders.flash import store
from orders.models import SaleSource
from shops.models import Variant


def _running(deal: FlashDeal) -> bool:
    return deal.status == FlashDeal.Status.ACTIVE and deal.ends_at > timezone.now()


class LiveDealHook:
    def prime(self, *, deal_id: int, force: bool) -> None:
        with transaction.atomic():  # the writer's take() locks the row too
            deal = FlashDeal.objects.select_for_update().filter(pk=deal_id).first()
            if deal is None:
                return
            running = _running(deal)
            store.prime_deal(
                deal_id=deal_id,
                pg_left=deal.remaining if running else 0,
                ends_ms=int(deal.ends_at.timestamp() * 1000) if running else 0,
                force=force,
                buyers=flash.deal_buyers(deal_id=deal_id),
            )

    def take(self, *, claims: list[tuple[str, int, int]]) -> set[str]:
        # Reserved while the deal ran (Redis checked its end): only its quantity binds now.
        by_deal: dict[int, list[tuple[str, int]]] = defaultdict(list)
        for rid, deal_id, quantity in claims:
            by_deal[deal_id].append((rid, quantity))
        accepted: set[str] = set()
        deals = FlashDeal.objects.select_for_update().filter(pk__in=sorted(by_deal)).order_by("pk")
        for deal in deals:
            left, taken = deal.quantity - deal.sold, 0
            for rid, quantity in by_deal[deal.pk]:
                if quantity <= left - taken:
                    taken += quantity
                    accepted.add(rid)
            if taken:
                FlashDeal.objects.filter(pk=deal.pk).update(sold=F("sold") + taken)
        return accepted

    def record(self, *, claims: list[tuple[int, int, int]]) -> None:
        LiveDealClaim.objects.bulk_create(
            LiveDealClaim(deal_id=deal_id, checkout_id=checkout_id, quantity=quantity)
            for deal_id, checkout_id, quantity in claims
        )
        from .services import _publish_deal_stock

        for deal_id in sorted({deal_id for deal_id, _, _ in claims}):
            transaction.on_commit(lambda d=deal_id: _publish_deal_stock(d), robust=True)

    def reconcile(self) -> int:
        running = FlashDeal.objects.filter(status=FlashDeal.Status.ACTIVE).values_list(
            "pk", flat=True
        )
        ids = list(running)
        for deal_id in ids:
            self.prime(deal_id=deal_id, force=True)
        return len(ids)


def close_deal_on_commit(deal_id: int) -> None:
    """An ended deal takes no more reservations; the ones already taken are still written."""
    transaction.on_commit(forget_cached_offers)
    if flash.enabled():
        transaction.on_commit(lambda: store.close_deal(deal_id=deal_id), robust=True)


def give_back_deal_on_commit(*, deal_id: int, quantity: int, buyer_id: int) -> None:
    if flash.enabled():
        transaction.on_commit(
            lambda: store.give_back_deal(deal_id=deal_id, quantity=quantity, buyer_id=buyer_id),
            robust=True,
        )


# --- the room's offer, cached per process for the hot path ------------------------------------


@dataclass(frozen=True)
class Offer:
    """What buying `variant` in `session` is, as the rules of live_buy_now decide it, read once
    a second per process: a crowd buying in one room costs no SQL per purchase. A change (the
    session ends, a deal starts) reaches buyers within that second; a deal that ends is
    refused at once by Redis, and the writer checks the rows again."""

    session_ended: bool
    seller_ids: frozenset[int]
    in_lineup: bool
    variant_id: int
    product_id: int
    price_amount: int
    flash_sale: bool
    source: str
    source_ref: str
    deal_id: int | None
    deal_price_amount: int | None


_offers: dict[tuple[int, int], tuple[float, Offer | None]] = {}
_offers_lock = threading.Lock()


def forget_cached_offers() -> None:
    _offers.clear()


def _load_offer(session_id: int, variant_id: int) -> Offer | None:
    from .selectors import active_deal

    session = LiveSession.objects.select_related("shop").filter(pk=session_id).first()
    variant = Variant.objects.select_related("product", "shop").filter(pk=variant_id).first()
    if session is None or variant is None:
        return None
    in_lineup = LineupItem.objects.filter(session=session, product_id=variant.product_id).exists()
    source, source_ref = attribute_sale(
        source=SaleSource.LIVE, source_ref=str(session.pk), product=variant.product
    )
    deal = active_deal(session_id=session.pk, product_id=variant.product_id)
    owner_id = session.shop.owner_id if session.shop is not None else None
    return Offer(
        session_ended=session.status == LiveSession.Status.ENDED,
        seller_ids=frozenset(x for x in (session.host_id, owner_id) if x is not None),
        in_lineup=in_lineup,
        variant_id=variant.pk,
        product_id=variant.product_id,
        price_amount=variant.price_amount,
        flash_sale=variant.flash_sale,
        source=source,
        source_ref=source_ref,
        deal_id=deal.pk if deal is not None else None,
        deal_price_amount=deal.deal_price_amount if deal is not None else None,
    )


def offer(*, session_id: int, variant_id: int) -> Offer | None:
    key = (session_id, variant_id)
    now = time.monotonic()
    hit = _offers.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    with _offers_lock:  # one load per process when it expires, not one per waiting buyer
        hit = _offers.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        found = _load_offer(session_id, variant_id)
        _offers[key] = (now + settings.FLASH_FACTS_SECONDS, found)
        return found
