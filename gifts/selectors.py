"""Reads shared by the gift pages and the API; their query counts are fixed here."""

from django.db.models import Count, QuerySet, Sum

from orders.ledger.models import LedgerAccount, LedgerEntry

from . import wallet
from .models import Gift, GiftingProfile, GiftSend
from .sending.services import start_of_today
from .services import effective_daily_cap


def list_active_gifts() -> QuerySet[Gift]:
    return Gift.objects.filter(is_active=True).order_by("sort_order", "coins", "pk")


def spent_today(user) -> int:
    return (
        GiftSend.objects.filter(sender=user, created_at__gte=start_of_today()).aggregate(
            total=Sum("coins_total")
        )["total"]
        or 0
    )


def wallet_summary(user) -> dict:
    profile = GiftingProfile.objects.filter(user=user).first()
    cap = effective_daily_cap(profile)
    spent = spent_today(user)
    return {
        "balance": wallet.wallet_balance(user),
        "daily_cap": cap,
        "spent_today": spent,
        "left_today": max(cap - spent, 0),
        "frozen": bool(profile and profile.is_frozen),
    }


def wallet_history(user) -> QuerySet[LedgerEntry]:
    return (
        LedgerEntry.objects.filter(
            account__kind=LedgerAccount.Kind.COIN_WALLET,
            account__currency=wallet.COIN,
            account__user=user,
        )
        .select_related("transaction")
        .order_by("-pk")
    )


def session_totals(creator, *, limit: int = 50) -> list[dict]:
    """Per live session: gifts, coins and diamonds the creator received (newest first)."""
    return [
        dict(row)
        for row in GiftSend.objects.filter(host=creator, session_id__isnull=False)
        .values("session_id")
        .annotate(
            sends=Count("pk"),
            coins=Sum("coins_total"),
            diamonds=Sum("creator_diamonds"),
        )
        .order_by("-session_id")[:limit]
    ]


def recent_gifts_received(creator, *, limit: int = 20) -> QuerySet[GiftSend]:
    return (
        GiftSend.objects.filter(host=creator)
        .select_related("sender", "gift")
        .order_by("-created_at", "-pk")[:limit]
    )
