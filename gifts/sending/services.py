"""Sending a gift: every check server-side, one balanced posting, idempotent per client token.

The posting moves `coins_total` out of the sender's wallet into the host's diamonds (the
creator share) and the platform's COIN revenue (the rest). The wallet row is the only row it
locks (a conditional debit): the diamonds and platform accounts are deferred, so a thousand
senders gifting one creator never queue behind each other on the creator's account.

The live room validates the session from its own cached state (live, not blocked, rate
limit) and then calls `send_gift` with the session's id; the room event is its business, on
the `gifts.signals.gift_sent` signal or on commit of its own call.
"""

import re
from datetime import datetime, time

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from orders.ledger import services as ledger
from orders.ledger.models import LedgerAccount
from shopfeed.errors import NotAllowed

from .. import wallet
from ..errors import (
    AgeRestricted,
    BirthDateRequired,
    ClientTokenReused,
    DailyCapReached,
    GiftingError,
    GiftingFrozen,
    GiftUnavailable,
    InsufficientCoins,
    InvalidClientToken,
    InvalidGiftCount,
    SelfGift,
)
from ..models import SEND_MAX_COUNT, Gift, GiftingProfile, GiftSend
from ..services import age_on, effective_daily_cap
from ..signals import gift_sent
from .hooks import session_resolver

Kind = LedgerAccount.Kind
CLIENT_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def shares(coins_total: int) -> tuple[int, int]:
    """(creator diamonds, platform coins): the platform's part rounds down, so a 1-coin gift
    is a whole diamond for the creator."""
    platform = coins_total * (100 - settings.GIFTS_CREATOR_SHARE_PERCENT) // 100
    return coins_total - platform, platform


def start_of_today(now: datetime | None = None) -> datetime:
    """Midnight of the current day in the site's time zone: when daily caps reset."""
    today = timezone.localdate(now)
    return timezone.make_aware(datetime.combine(today, time.min))


def _clean_count(count) -> int:
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= SEND_MAX_COUNT:
        raise InvalidGiftCount(f"Send between 1 and {SEND_MAX_COUNT} of a gift at a time.")
    return count


def _clean_token(client_token) -> str:
    if not isinstance(client_token, str) or not CLIENT_TOKEN_RE.match(client_token):
        raise InvalidClientToken()
    return client_token


def _active_gift(gift) -> Gift:
    gift_id = gift.pk if isinstance(gift, Gift) else gift
    if not isinstance(gift_id, int) or isinstance(gift_id, bool):
        raise GiftUnavailable("Choose a gift from the catalogue.")
    found = Gift.objects.filter(pk=gift_id, is_active=True).first()
    if found is None:
        raise GiftUnavailable("That gift is not available.")
    return found


def birth_date_required() -> BirthDateRequired:
    return BirthDateRequired(
        "Add your date of birth in your gifting settings before sending gifts "
        f"(gifts are for people {settings.GIFTS_MINIMUM_AGE} and over)."
    )


def too_young() -> AgeRestricted:
    return AgeRestricted(f"You must be {settings.GIFTS_MINIMUM_AGE} or older to send gifts.")


def host_cannot_receive() -> AgeRestricted:
    return AgeRestricted("This creator cannot receive gifts.")


def frozen() -> GiftingFrozen:
    return GiftingFrozen("Sending gifts is paused on your account; contact support.")


def over_cap(*, coins_total: int, cap: int, left: int) -> DailyCapReached:
    return DailyCapReached(
        f"That gift costs {coins_total:,} coins but your daily gifting limit of {cap:,} "
        f"coins leaves {left:,} for today. It resets at midnight; you can change your "
        "own limit in your gifting settings."
    )


def short_of_coins(*, coins_total: int, balance: int) -> InsufficientCoins:
    return InsufficientCoins(
        f"That gift costs {coins_total:,} coins and your wallet holds "
        f"{balance:,}. Top up to send it.",
        balance=balance,
        needed=coins_total,
    )


def _check_ages(sender, host) -> None:
    today = timezone.localdate()
    minimum = settings.GIFTS_MINIMUM_AGE
    if sender.birth_date is None:
        raise birth_date_required()
    if age_on(sender.birth_date, today) < minimum:
        raise too_young()
    if host.birth_date is None or age_on(host.birth_date, today) < minimum:
        raise host_cannot_receive()


def _same_request(send: GiftSend, *, host, gift: Gift, count: int, session_id) -> bool:
    return (send.host_id, send.gift_id, send.count, send.session_id) == (
        host.pk,
        gift.pk,
        count,
        session_id,
    )


def _replay(existing: GiftSend, *, host, gift: Gift, count: int, session_id) -> GiftSend:
    if not _same_request(existing, host=host, gift=gift, count=count, session_id=session_id):
        raise ClientTokenReused()
    existing.replayed = True
    return existing


def send_gift(
    *,
    sender,
    host,
    gift: Gift | int,
    count: int,
    client_token: str,
    session_id: int | None = None,
) -> GiftSend:
    """Send `count` x `gift` from `sender` to `host`; returns the send.

    A second call with the same (sender, client_token) returns the first send and moves
    nothing (a resend after a reconnect); the same token for a different gift is refused.
    `session_id` is trusted: the room (or `send_gift_to_session`) checked it.
    """
    if sender is None or not getattr(sender, "is_authenticated", False):
        raise NotAllowed("Sign in to send gifts.")
    count = _clean_count(count)
    client_token = _clean_token(client_token)
    gift = _active_gift(gift)
    if host is None or host.pk == sender.pk:
        raise SelfGift("You cannot send a gift to yourself.")
    if not (host.is_creator and host.is_active):
        raise GiftingError("Only creators can receive gifts.", code="not_a_creator")
    _check_ages(sender, host)
    send, _created = _post_send(
        sender=sender,
        host=host,
        gift=gift,
        count=count,
        client_token=client_token,
        session_id=session_id,
    )
    return send


@transaction.atomic
def _post_send(
    *, sender, host, gift: Gift, count: int, client_token: str, session_id: int | None
) -> tuple[GiftSend, bool]:
    existing = GiftSend.objects.filter(sender=sender, client_token=client_token).first()
    if existing is not None:
        return _replay(existing, host=host, gift=gift, count=count, session_id=session_id), False
    # The sender's wallet row is the one lock a send takes: it orders this sender's sends (so
    # the daily sum and the balance below are exact) and nobody else's.
    wallet_acct = wallet.wallet_account(sender)
    locked = LedgerAccount.objects.select_for_update().get(pk=wallet_acct.pk)
    existing = GiftSend.objects.filter(sender=sender, client_token=client_token).first()
    if existing is not None:
        return _replay(existing, host=host, gift=gift, count=count, session_id=session_id), False

    profile = GiftingProfile.objects.filter(user=sender).first()
    if profile is not None and profile.is_frozen:
        raise frozen()
    coins_total = gift.coins * count
    cap = effective_daily_cap(profile)
    spent_today = (
        GiftSend.objects.filter(sender=sender, created_at__gte=start_of_today()).aggregate(
            total=Sum("coins_total")
        )["total"]
        or 0
    )
    if spent_today + coins_total > cap:
        raise over_cap(coins_total=coins_total, cap=cap, left=max(cap - spent_today, 0))
    if locked.balance_amount < coins_total:
        raise short_of_coins(coins_total=coins_total, balance=locked.balance_amount)
    creator_diamonds, platform_coins = shares(coins_total)
    try:
        txn = ledger.post(
            reference=f"gifts:send:{sender.pk}:{client_token}",
            kind="gift_send",
            memo=f"{count} x {gift.name} from user {sender.pk} to user {host.pk}"[:255],
            entries=[
                (locked, -coins_total),
                (wallet.diamonds_account(host), creator_diamonds),
                (wallet.platform_account(Kind.PLATFORM_REVENUE), platform_coins),
            ],
        )
    except ledger.InsufficientBalance:
        raise InsufficientCoins(balance=locked.balance_amount, needed=coins_total) from None
    send = GiftSend.objects.create(
        sender=sender,
        host=host,
        gift=gift,
        session_id=session_id,
        context=GiftSend.Context.LIVE if session_id is not None else GiftSend.Context.DIRECT,
        count=count,
        coins_total=coins_total,
        creator_diamonds=creator_diamonds,
        platform_coins=platform_coins,
        client_token=client_token,
        ledger_transaction=txn,
    )
    transaction.on_commit(
        lambda: gift_sent.send(
            sender=GiftSend,
            send_id=send.pk,
            sender_id=sender.pk,
            host_id=host.pk,
            gift_id=gift.pk,
            count=count,
            coins_total=coins_total,
            session_id=session_id,
        )
    )
    return send, True


def send_gift_to_session(
    *, sender, session_id, gift: Gift | int, count: int, client_token: str
) -> GiftSend:
    """A send that names a live session from outside the room (the HTTP API): the live app's
    registered resolver says who hosts it and whether it takes gifts now."""
    if not isinstance(session_id, int) or isinstance(session_id, bool):
        raise GiftingError("Name the live session by its id.", code="invalid", field="session")
    resolver = session_resolver()
    if resolver is None:
        raise GiftingError(
            "Gifts to live sessions are not available yet.", code="session_unavailable"
        )
    host_id = resolver(session_id)
    host = type(sender)._default_manager.get(pk=host_id)
    return send_gift(
        sender=sender,
        host=host,
        gift=gift,
        count=count,
        client_token=client_token,
        session_id=session_id,
    )
