"""Live flash deals on the flash-sale path (orders.flash, DESIGN.md section 4): a deal's units
are taken in Redis by the same Lua script as the variant's stock; here is what orders.flash
asks of live through its DealHook (registered in live/apps.py): priming a deal's Redis count
from its row, and counting written reservations against the deal in the writer's transaction.
"""

from collections import defaultdict

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from live.models import FlashDeal, LiveDealClaim
from orders.flash import services as flash
from orders.flash import store


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
    if flash.enabled():
        transaction.on_commit(lambda: store.close_deal(deal_id=deal_id), robust=True)


def give_back_deal_on_commit(*, deal_id: int, quantity: int, buyer_id: int) -> None:
    if flash.enabled():
        transaction.on_commit(
            lambda: store.give_back_deal(deal_id=deal_id, quantity=quantity, buyer_id=buyer_id),
            robust=True,
        )
