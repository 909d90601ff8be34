"""Flash-deal reads: the deal running now, and a deal as the room protocol shows it; whether a
sale happened in a live session."""

from django.db.models import F, Q
from django.utils import timezone

from live.models import FlashDeal, LiveSession


def deal_data(deal: FlashDeal) -> dict:
    return {
        "id": deal.pk,
        "product_id": deal.product_id,
        "deal_price_amount": deal.deal_price_amount,
        "currency": deal.currency,
        "quantity": deal.quantity,
        "remaining": deal.remaining,
        "ends_at": deal.ends_at.isoformat(),
    }


def active_deal(*, session_id: int, product_id: int | None = None) -> FlashDeal | None:
    """The deal running now (by the clock, whatever the beat task has caught up with)."""
    qs = FlashDeal.objects.filter(
        session_id=session_id, status=FlashDeal.Status.ACTIVE, ends_at__gt=timezone.now()
    )
    if product_id is not None:
        qs = qs.filter(product_id=product_id)
    return qs.order_by("-starts_at").first()


def sells_in(*, session: LiveSession, user) -> bool:
    """Whether `user` sells in this session (its host, or its shop's owner): they cannot buy
    from it, so their live page shows host controls instead of "Buy now"."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    owner_id = session.shop.owner_id if session.shop is not None else None
    return user.pk in (session.host_id, owner_id)


def sold_in_live_session(*, product, ref: str) -> bool:
    """Whether a sale of `product` credited to live session `ref` happened there: the session
    is on air, is its shop's creator's, and has the product in its lineup or pinned.

    orders asks this (registered in LiveConfig.ready) before crediting a room's "just bought"
    notices and summary with a sale.
    """
    if not (ref.isascii() and ref.isdigit()) or len(ref) > 18:  # a bigint, not any string
        return False
    return LiveSession.objects.filter(
        Q(lineup__product_id=product.pk) | Q(pinned_product_id=product.pk),
        pk=int(ref),
        status=LiveSession.Status.LIVE,
        shop_id=product.shop_id,
        host_id=F("shop__owner_id"),
    ).exists()
