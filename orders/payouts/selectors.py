"""What the seller's money page and staff read: balances per currency, payout history, the
payout account, and payouts stuck unsent."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, Sum

from shops.models import Shop

from ..ledger import accounting
from ..ledger.models import LedgerAccount
from ..models import Order, Payout, PayoutAccount
from .services import IDEMPOTENCY_WINDOW, UNSENT_STATUSES


@dataclass(frozen=True)
class CurrencyBalance:
    currency: str
    balance: int
    pending: int
    withdrawable: int
    in_transit: int
    paid_out: int
    next_release_at: datetime | None


def seller_payout_summary(shop: Shop) -> list[CurrencyBalance]:
    """Per currency: total balance, pending (in hold), withdrawable, in transit and paid out."""
    currencies = set(
        LedgerAccount.objects.filter(shop=shop).values_list("currency", flat=True).distinct()
    )
    currencies.add(shop.currency)
    paid = dict(
        Payout.objects.filter(shop=shop, status=Payout.Status.PAID)
        .values_list("currency")
        .annotate(total=Sum("amount"))
        .values_list("currency", "total")
    )
    rows = []
    for currency in sorted(currencies, key=lambda c: (c != shop.currency, c)):
        figures = accounting.shop_balances(shop, currency)
        next_release = (
            Order.objects.filter(
                shop=shop, currency=currency, released_at__isnull=True, release_at__isnull=False
            )
            .exclude(status=Order.Status.CANCELLED)
            .order_by("release_at")
            .values_list("release_at", flat=True)
            .first()
        )
        rows.append(
            CurrencyBalance(
                currency=currency,
                balance=figures["balance"],
                pending=figures["pending"],
                withdrawable=figures["withdrawable"],
                in_transit=figures["in_transit"],
                paid_out=paid.get(currency, 0),
                next_release_at=next_release,
            )
        )
    return rows


def payout_history(shop: Shop, *, limit: int = 50) -> list[Payout]:
    return list(Payout.objects.filter(shop=shop).order_by("-created_at", "-pk")[:limit])


def payout_account_for(shop: Shop) -> PayoutAccount | None:
    return PayoutAccount.objects.filter(shop=shop).first()


def stuck_payouts(*, now: datetime):
    """Unsent payouts staff must look at: refused or unanswered, or too old to re-send blind."""
    return Payout.objects.filter(status__in=UNSENT_STATUSES).filter(
        Q(attempts__gt=0) | Q(created_at__lt=now - IDEMPOTENCY_WINDOW)
    )
