"""What gifts adds to "download my data" (shopfeed.accounts.privacy; registered in
GiftsConfig.ready). Sends, coin purchases and the wallet are money records: "delete my
account" keeps them, pointing at the anonymised user row, so the coin books still balance;
the gifting settings go with the account (the generic step)."""

from shopfeed.accounts.privacy.registry import register_exporter

from .coins.models import CoinPurchase
from .models import GiftingProfile, GiftSend
from .selectors import wallet_history


def export_gifts(user) -> dict:
    profile = GiftingProfile.objects.filter(user=user).first()
    return {
        "settings": None
        if profile is None
        else {
            "daily_coin_cap": profile.daily_coin_cap,
            "show_supporter_level": profile.show_supporter_level,
            "frozen_at": profile.frozen_at,
        },
        "sent": [
            {
                "gift": s.gift.name,
                "count": s.count,
                "coins": s.coins_total,
                "to": s.host.handle,
                "session": s.session_id,
                "created_at": s.created_at,
            }
            for s in GiftSend.objects.filter(sender=user)
            .select_related("gift", "host")
            .order_by("created_at", "pk")
        ],
        "received": [
            {
                "gift": s.gift.name,
                "count": s.count,
                "diamonds": s.creator_diamonds,
                "session": s.session_id,
                "created_at": s.created_at,
            }
            for s in GiftSend.objects.filter(host=user)
            .select_related("gift")
            .order_by("created_at", "pk")
        ],
        "coin_purchases": list(
            CoinPurchase.objects.filter(buyer=user)
            .order_by("created_at", "pk")
            .values(
                "coins",
                "total_amount",
                "currency",
                "status",
                "coins_refunded",
                "refunded_amount",
                "created_at",
                "paid_at",
            )
        ),
        "wallet": [
            {"coins": e.amount, "kind": e.transaction.kind, "at": e.transaction.created_at}
            for e in wallet_history(user).order_by("pk")
        ],
    }


def connect() -> None:
    register_exporter("gifts", export_gifts)
