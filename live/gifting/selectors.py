"""What the live page shows of gifts: the drawer (catalogue with coin and money prices, the
viewer's balance) and the session's gift totals for the creator."""

from dataclasses import dataclass

from django.db.models import Count, Sum
from django.urls import NoReverseMatch, reverse

from gifts import wallet
from gifts.models import Gift, GiftingProfile, GiftSend
from live.models import LiveSession

from .room import gift_card


def _url(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def top_up_url() -> str | None:
    """The coins page, where there is one."""
    return _url("gifts:coins")


def gift_drawer(*, user, currency: str | None = None) -> dict:
    """The drawer's gifts (price in coins and in money, always both) and the viewer's balance.
    Two queries (the catalogue, the wallet)."""
    gifts = []
    for gift in Gift.objects.filter(is_active=True):
        amount, cur = wallet.coins_value(gift.coins, currency)
        gifts.append({**gift_card(gift), "price_amount": amount, "currency": cur})
    signed_in = getattr(user, "is_authenticated", False)
    return {
        "gifts": gifts,
        "balance": wallet.wallet_balance(user) if signed_in else None,
        "top_up_url": top_up_url(),
        "settings_url": _url("gifts:settings"),
    }


@dataclass(frozen=True)
class TopGifter:
    handle: str
    name: str
    coins: int


@dataclass(frozen=True)
class SessionGifts:
    sends: int
    gifts: int  # gifts sent, counting each of a send's `count`
    coins: int
    diamonds: int  # the creator's share
    senders: int
    top: tuple[TopGifter, ...]


def session_gifts(*, session: LiveSession, top: int = 3) -> SessionGifts:
    """The session's gift totals from the record (GiftSend rows): two queries."""
    sends = GiftSend.objects.filter(session_id=session.pk, host_id=session.host_id)
    totals = sends.aggregate(
        n=Count("pk"),
        gifts=Sum("count"),
        coins=Sum("coins_total"),
        diamonds=Sum("creator_diamonds"),
        senders=Count("sender", distinct=True),
    )
    best = (
        sends.values("sender__handle", "sender__display_name")
        .annotate(coins=Sum("coins_total"))
        .order_by("-coins", "sender__handle")[:top]
    )
    return SessionGifts(
        sends=totals["n"],
        gifts=totals["gifts"] or 0,
        coins=totals["coins"] or 0,
        diamonds=totals["diamonds"] or 0,
        senders=totals["senders"],
        top=tuple(
            TopGifter(
                handle=row["sender__handle"],
                name=row["sender__display_name"] or row["sender__handle"],
                coins=row["coins"],
            )
            for row in best
        ),
    )


def level_for(coins: int) -> int:
    """A supporter's level with a creator from the coins they ever gave them: 1 from the first
    coin, one more for each tenfold (10, 100, 1,000, ...), at most 10."""
    if coins <= 0:
        return 0
    return min(10, len(str(coins)))


def supporter_level(*, user_id: int, host_id: int) -> int | None:
    """The level shown beside the user's chat name in this host's lives, or None when they
    keep it private (the default) or never gave this host anything. Two queries."""
    if not GiftingProfile.objects.filter(user_id=user_id, show_supporter_level=True).exists():
        return None
    coins = (
        GiftSend.objects.filter(sender_id=user_id, host_id=host_id).aggregate(
            total=Sum("coins_total")
        )["total"]
        or 0
    )
    return level_for(coins) or None
