"""Reads the Coins page and the API share; their query counts are fixed here."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from .. import wallet
from ..selectors import wallet_history
from .models import CoinDispute, CoinPack, CoinPackPrice, CoinPurchase, CoinRefund
from .services import (
    exact_price,
    max_coins,
    min_exact_coins,
    refund_deadline,
    unspent_by_purchase,
)


@dataclass(frozen=True)
class PackOffer:
    pack: CoinPack
    price_amount: int
    currency: str
    # What the same coins cost bought exactly, for comparison (never a forced bundle).
    exact_amount: int


def list_pack_offers(currency: str) -> list[PackOffer]:
    """Active packs sold in `currency`, in display order (one query)."""
    prices = (
        CoinPackPrice.objects.filter(pack__is_active=True, currency=currency)
        .select_related("pack")
        .order_by("pack__sort_order", "pack__coins", "pack__pk")
    )
    return [
        PackOffer(
            pack=p.pack,
            price_amount=p.price_amount,
            currency=currency,
            exact_amount=exact_price(p.pack.coins, currency),
        )
        for p in prices
    ]


@dataclass(frozen=True)
class ExactTerms:
    currency: str
    value_per_100: int
    min_coins: int
    max_coins: int


def exact_terms(currency: str) -> ExactTerms:
    from django.conf import settings

    return ExactTerms(
        currency=currency,
        value_per_100=settings.GIFTS_COIN_VALUE_PER_100[currency],
        min_coins=min_exact_coins(currency),
        max_coins=max_coins(),
    )


def purchases_of(user) -> QuerySet[CoinPurchase]:
    return (
        CoinPurchase.objects.filter(buyer=user)
        .select_related("pack")
        .prefetch_related(Prefetch("refunds", queryset=CoinRefund.objects.order_by("pk")))
        .order_by("-created_at", "-pk")
    )


def with_refundable(purchases: list[CoinPurchase], *, user, now: datetime | None = None):
    """Set `refundable_coins` (0 when not refundable now) and `refund_until` on each purchase:
    the unused coins of a paid purchase still inside its refund window (two queries)."""
    now = now or timezone.now()
    unspent = unspent_by_purchase(user=user) if purchases else {}
    for purchase in purchases:
        deadline = refund_deadline(purchase)
        open_ = (
            purchase.status == CoinPurchase.Status.PAID and deadline is not None and now <= deadline
        )
        setattr(purchase, "refund_until", deadline)  # noqa: B010 - read by pages and the API
        setattr(purchase, "refundable_coins", unspent.get(purchase.pk, 0) if open_ else 0)  # noqa: B010
    return purchases


ACTIVITY_LABELS = {
    "coin_purchase": "Bought",
    "gift_send": "Gift sent",
    "coin_refund": "Refunded",
    "coin_dispute": "Taken back (card dispute)",
    "coin_adjustment": "Adjusted by support",
}


def wallet_activity(user, *, limit: int = 20) -> list[dict]:
    """The wallet's latest movements, newest first, with a label a person reads (one query)."""
    return [
        {
            "at": entry.transaction.created_at,
            "coins": entry.amount,
            "label": ACTIVITY_LABELS.get(entry.transaction.kind, "Other"),
        }
        for entry in wallet_history(user)[:limit]
    ]


def coins_page(user, *, currency: str, limit: int = 50) -> dict:
    """Everything the Coins page shows, in a fixed number of queries."""
    context: dict = {
        "offers": list_pack_offers(currency),
        "exact": exact_terms(currency),
        "currency": currency,
    }
    if user.is_authenticated:
        balance = wallet.wallet_balance(user)
        context["balance"] = balance
        context["balance_value"] = wallet.coins_value(balance, currency)[0]
        context["purchases"] = with_refundable(list(purchases_of(user)[:limit]), user=user)
        context["activity"] = wallet_activity(user)
    return context


def list_disputes() -> QuerySet[CoinDispute]:
    return CoinDispute.objects.select_related("purchase", "purchase__buyer")
