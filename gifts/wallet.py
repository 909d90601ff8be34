"""Coin wallets in the double-entry ledger (DESIGN.md section 5a), currency "COIN".

Accounts:
  coins sold         platform, goes negative as coins are issued (deferred: hot)
  user coin wallet   one per user, never below zero (CheckConstraint + conditional debit)
  creator diamonds   one per creator, credited by every gift to them (deferred: hot)
  platform revenue   the platform's share of gifts, in COIN (deferred: hot)
  coin adjustments   staff's corrections, with a reason and an audit row
  diamonds redeemed  diamonds turned into creator payable money (earnings.convert)
Deferred accounts are written without a row lock (orders.ledger.models explains); the wallet
is the only row a send locks, so senders only ever wait for themselves.
"""

from django.conf import settings
from django.db import transaction

from orders.ledger import services as ledger
from orders.ledger.models import LedgerAccount, LedgerTransaction
from shopfeed.errors import NotAllowed, ShopFeedError

from .errors import InsufficientCoins
from .models import GiftingEvent

COIN = "COIN"
Kind = LedgerAccount.Kind


def wallet_account(user) -> LedgerAccount:
    return ledger.account(kind=Kind.COIN_WALLET, currency=COIN, user=user)


def diamonds_account(user) -> LedgerAccount:
    return ledger.account(
        kind=Kind.CREATOR_DIAMONDS, currency=COIN, user=user, deferred_balance=True
    )


def platform_account(kind: str) -> LedgerAccount:
    """A platform-wide COIN account; the ones every send or purchase touches are deferred."""
    hot = kind in (Kind.COINS_SOLD, Kind.PLATFORM_REVENUE)
    return ledger.account(kind=kind, currency=COIN, deferred_balance=hot)


def wallet_balance(user) -> int:
    balance = (
        LedgerAccount.objects.filter(kind=Kind.COIN_WALLET, currency=COIN, user=user)
        .values_list("balance_amount", flat=True)
        .first()
    )
    return balance or 0


def diamonds_balance(user) -> int:
    acct = LedgerAccount.objects.filter(
        kind=Kind.CREATOR_DIAMONDS, currency=COIN, user=user
    ).first()
    return ledger.current_balance(acct) if acct else 0


def _positive_coins(coins) -> int:
    if not isinstance(coins, int) or isinstance(coins, bool) or coins <= 0:
        raise ShopFeedError("Coins are a positive whole number.", code="invalid_coins")
    return coins


@transaction.atomic
def credit_coins(
    *, user, coins: int, reference: str, kind: str, memo: str = ""
) -> LedgerTransaction:
    """Issue `coins` into the user's wallet (coins sold -> wallet); idempotent by `reference`.

    Coin purchases call this from their verified webhook with the purchase as reference.
    """
    coins = _positive_coins(coins)
    return ledger.post(
        reference=reference,
        kind=kind,
        memo=memo or f"{coins} coins to user {user.pk}",
        entries=[
            (platform_account(Kind.COINS_SOLD), -coins),
            (wallet_account(user), coins),
        ],
    )


@transaction.atomic
def debit_coins(
    *, user, coins: int, reference: str, kind: str, memo: str = ""
) -> LedgerTransaction:
    """Take `coins` back out of the wallet into coins sold (a refund or dispute of a purchase).

    Refused with InsufficientCoins, moving nothing, when the wallet holds fewer.
    """
    coins = _positive_coins(coins)
    try:
        return ledger.post(
            reference=reference,
            kind=kind,
            memo=memo or f"{coins} coins from user {user.pk}",
            entries=[
                (wallet_account(user), -coins),
                (platform_account(Kind.COINS_SOLD), coins),
            ],
        )
    except ledger.InsufficientBalance:
        raise InsufficientCoins(
            f"The wallet holds {wallet_balance(user)} coins, fewer than {coins}.",
            balance=wallet_balance(user),
            needed=coins,
        ) from None


@transaction.atomic
def adjust_coins(*, user, coins: int, reason: str, by) -> GiftingEvent:
    """Staff add (coins > 0) or take (coins < 0) coins, with a reason, audited and balanced."""
    if not getattr(by, "is_staff", False):
        raise NotAllowed("Only staff can adjust coins.")
    reason = (reason or "").strip()
    if not reason:
        raise ShopFeedError("Say why.", code="reason_required", field="reason")
    if not isinstance(coins, int) or isinstance(coins, bool) or coins == 0:
        raise ShopFeedError(
            "Enter a whole number of coins, positive to add, negative to take.",
            code="invalid_coins",
            field="coins",
        )
    event = GiftingEvent.objects.create(
        user=user, kind=GiftingEvent.Kind.ADJUSTED, actor=by, reason=reason, coins=coins
    )
    try:
        txn = ledger.post(
            reference=f"gifts:adjust:{event.pk}",
            kind="coin_adjustment",
            memo=f"Staff {by.pk}: {reason}"[:255],
            entries=[
                (platform_account(Kind.COIN_ADJUSTMENTS), -coins),
                (wallet_account(user), coins),
            ],
        )
    except ledger.InsufficientBalance:
        raise InsufficientCoins(
            f"The wallet holds {wallet_balance(user)} coins; it cannot lose {-coins}.",
            balance=wallet_balance(user),
            needed=-coins,
        ) from None
    event.ledger_transaction = txn
    event.save(update_fields=["ledger_transaction"])
    return event


def coins_value(coins: int, currency: str | None = None) -> tuple[int, str]:
    """What `coins` are worth in money (minor units, rounded to the nearest), and the currency."""
    currency = currency or settings.DEFAULT_CURRENCY
    per_100 = settings.GIFTS_COIN_VALUE_PER_100[currency]
    return (coins * per_100 + 50) // 100, currency
