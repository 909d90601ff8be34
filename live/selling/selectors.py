"""Flash-deal reads: the deal running now, and a deal as the room protocol shows it."""

from django.utils import timezone

from live.models import FlashDeal


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
