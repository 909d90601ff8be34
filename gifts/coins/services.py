"""Buying coins through Stripe, refunding unused ones, and card disputes (DESIGN.md 3, 5a).

What each step posts (every posting balanced per currency):

  paid (verified webhook, or reconciliation asking Stripe)
      COIN   coins sold -> buyer's wallet                 credit_coins, ref purchase
      money  buyer payments clearing -> platform revenue  ref purchase + ":money"
  refund of unused coins (the buyer within the window, or staff)
      COIN   wallet -> coins sold                         debit_coins, ref refund
      money  platform revenue -> buyer payments clearing  the refunded part of the price
  card dispute opened
      COIN   wallet -> coins sold                         the purchase's unspent coins
      money  platform revenue -> buyer payments clearing  what Stripe withdrew
  dispute won: the money posting reversed (the coins stay taken; staff may give them back).

Which coins are spent: first in, first out. A wallet spends its oldest coins first, so what
it holds belongs to its newest credits: walking the wallet's credits from the newest, each
takes what is left of the balance, up to its own coins less what was refunded or taken back
from it. Spent coins are never refundable and a dispute cannot take them back: the creators
they were gifted to keep them (staff can reverse a send inside the payout hold).

Stripe is called outside our row locks: rows are decided and committed first, then Stripe
is called with an idempotency key made from our row id; a Stripe answer is read before the
lock is taken and acted on under it.
"""

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from orders import gateway
from orders.cards import services as cards
from orders.errors import CardDeclined, PaymentError
from orders.ledger import services as ledger
from orders.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from orders.payments.events import catch_up_events
from shopfeed.errors import NotAllowed, NotFound, ShopFeedError

from .. import services as gifting
from .. import wallet
from ..models import GiftingProfile
from .errors import (
    CoinBuyingFrozen,
    CoinPackUnavailable,
    CurrencyNotSold,
    InvalidCoinAmount,
    NothingToRefund,
    PurchaseNotPayable,
    RefundWindowClosed,
    TooManyPendingPurchases,
)
from .models import CoinDispute, CoinPack, CoinPackPrice, CoinPurchase, CoinRefund
from .signals import coins_credited

logger = logging.getLogger(__name__)
Kind = LedgerAccount.Kind

# Money has been taken or is being taken: such a PaymentIntent is never cancelled here.
MONEY_MOVING = frozenset({"succeeded", "processing", "requires_capture"})
PURCHASE_REF = "gifts:coins:purchase:"


# --- prices ------------------------------------------------------------------------------------


def sold_currencies() -> list[str]:
    return sorted(settings.GIFTS_COIN_VALUE_PER_100)


def clean_currency(currency: str | None) -> str:
    """None means the site's currency; anything else must be one coins are sold in."""
    currency = settings.DEFAULT_CURRENCY if currency is None else str(currency).upper()
    if currency not in settings.GIFTS_COIN_VALUE_PER_100:
        raise CurrencyNotSold(f"Coins are sold in {', '.join(sold_currencies())}.")
    return currency


def exact_price(coins: int, currency: str) -> int:
    """What exactly `coins` cost: the coin's stated money value (no bundle needed)."""
    return wallet.coins_value(coins, currency)[0]


def min_exact_coins(currency: str) -> int:
    """The fewest coins one card payment can buy: a card payment has a minimum amount."""
    per_100 = settings.GIFTS_COIN_VALUE_PER_100[currency]
    coins = max(1, math.ceil((100 * settings.GIFTS_COIN_PURCHASE_MIN_AMOUNT - 50) / per_100))
    while exact_price(coins, currency) < settings.GIFTS_COIN_PURCHASE_MIN_AMOUNT:
        coins += 1
    return coins


def max_coins() -> int:
    return int(settings.GIFTS_COIN_PURCHASE_MAX_COINS)


@dataclass(frozen=True)
class Quote:
    coins: int
    total_amount: int
    currency: str
    pack: CoinPack | None = None


def clean_coins(coins, currency: str) -> int:
    if not isinstance(coins, int) or isinstance(coins, bool):
        raise InvalidCoinAmount("Enter a whole number of coins.")
    smallest, largest = min_exact_coins(currency), max_coins()
    if coins < smallest:
        raise InvalidCoinAmount(
            f"The smallest purchase is {smallest:,} coins "
            f"({_shown(exact_price(smallest, currency), currency)}): a card payment cannot be "
            "smaller."
        )
    if coins > largest:
        raise InvalidCoinAmount(f"You can buy at most {largest:,} coins at a time.")
    return coins


def _shown(amount: int, currency: str) -> str:
    from shops.money import format_money  # formatting only

    return format_money(amount, currency)


def quote(*, pack: CoinPack | int | None = None, coins=None, currency: str | None = None) -> Quote:
    """What a purchase of `pack` or of exactly `coins` costs in `currency`."""
    currency = clean_currency(currency)
    if (pack is None) == (coins is None):
        raise ShopFeedError("Choose a pack or a number of coins.", code="choose_pack_or_coins")
    if coins is not None:
        coins = clean_coins(coins, currency)
        return Quote(coins=coins, total_amount=exact_price(coins, currency), currency=currency)
    pack_id = pack.pk if isinstance(pack, CoinPack) else pack
    if not isinstance(pack_id, int) or isinstance(pack_id, bool):
        raise CoinPackUnavailable("Choose one of the coin packs.")
    price = (
        CoinPackPrice.objects.select_related("pack")
        .filter(pack_id=pack_id, pack__is_active=True, currency=currency)
        .first()
    )
    if price is None:
        if CoinPack.objects.filter(pk=pack_id, is_active=True).exists():
            raise CurrencyNotSold(f"That pack is not sold in {currency}.")
        raise CoinPackUnavailable("That coin pack is not on sale.")
    return Quote(
        coins=price.pack.coins, total_amount=price.price_amount, currency=currency, pack=price.pack
    )


# --- starting and paying a purchase -------------------------------------------------------------


def _is_frozen(user) -> bool:
    return GiftingProfile.objects.filter(user=user, frozen_at__isnull=False).exists()


def start_purchase(
    *, buyer, pack: CoinPack | int | None = None, coins=None, currency: str | None = None
) -> CoinPurchase:
    """A pending purchase of a pack or of exactly `coins`, with its PaymentIntent.

    The coins arrive only once Stripe says it was paid. Raises PaymentError if Stripe
    refuses (the purchase then lapses unpaid).
    """
    if buyer is None or not getattr(buyer, "is_authenticated", False):
        raise NotAllowed("Sign in to buy coins.")
    q = quote(pack=pack, coins=coins, currency=currency)
    purchase = _create_purchase(buyer=buyer, q=q)
    return ensure_payment_intent(purchase=purchase)


@transaction.atomic
def _create_purchase(*, buyer, q: Quote) -> CoinPurchase:
    if _is_frozen(buyer):
        raise CoinBuyingFrozen()
    # The buyer's own gifting profile row orders their purchase starts: the pending count is exact.
    GiftingProfile.objects.get_or_create(user=buyer)
    GiftingProfile.objects.select_for_update().get(user=buyer)
    pending = CoinPurchase.objects.filter(buyer=buyer, status=CoinPurchase.Status.PENDING).count()
    if pending >= settings.GIFTS_COIN_PENDING_LIMIT:
        raise TooManyPendingPurchases()
    return CoinPurchase.objects.create(
        buyer=buyer,
        pack=q.pack,
        coins=q.coins,
        total_amount=q.total_amount,
        currency=q.currency,
    )


def ensure_payment_intent(*, purchase: CoinPurchase) -> CoinPurchase:
    """Give the purchase its PaymentIntent, once (our row id is the idempotency key)."""
    purchase.refresh_from_db()
    if purchase.payment_intent_id or purchase.status != CoinPurchase.Status.PENDING:
        return purchase
    pi = gateway.create_payment_intent(
        amount=purchase.total_amount,
        currency=purchase.currency,
        idempotency_key=purchase.idempotency_key,
        metadata={"coin_purchase_id": str(purchase.pk), "buyer_id": str(purchase.buyer_id)},
    )
    stored = CoinPurchase.objects.filter(pk=purchase.pk, payment_intent_id__isnull=True).update(
        payment_intent_id=pi.id, client_secret=pi.client_secret, updated_at=timezone.now()
    )
    purchase.refresh_from_db()
    if not stored and purchase.payment_intent_id != pi.id:
        _cancel_quietly(pi.id)  # a racing request stored its own (localstripe has no keys)
    return purchase


def _cancel_quietly(payment_intent_id: str) -> None:
    try:
        gateway.cancel_payment_intent(
            payment_intent_id, idempotency_key=f"cancel-{payment_intent_id}"
        )
    except PaymentError:
        logger.warning("could not cancel the surplus PaymentIntent %s", payment_intent_id)


def get_own_purchase(*, user, purchase_id) -> CoinPurchase:
    """One of the user's purchases; anyone else's does not exist."""
    try:
        return CoinPurchase.objects.get(pk=int(purchase_id), buyer=user)
    except (CoinPurchase.DoesNotExist, TypeError, ValueError):
        raise NotFound("No such coin purchase.", code="no_such_purchase") from None


def _payable(purchase: CoinPurchase, by) -> CoinPurchase:
    if by is None or purchase.buyer_id != by.pk:
        raise NotFound("No such coin purchase.", code="no_such_purchase")
    purchase = ensure_payment_intent(purchase=purchase)
    if purchase.status != CoinPurchase.Status.PENDING or not purchase.payment_intent_id:
        raise PurchaseNotPayable()
    return ready_for_another_card(purchase=purchase)


def ready_for_another_card(*, purchase: CoinPurchase) -> CoinPurchase:
    """After a declined card the next one is confirmed on the PaymentIntent the gateway says
    (Stripe: the same; localstripe: a new one, the old one cancelled)."""
    assert purchase.payment_intent_id is not None
    pi = gateway.retrieve_payment_intent(purchase.payment_intent_id)
    if not pi.declined:
        return purchase
    fresh = gateway.payment_intent_for_another_card(
        pi.id, idempotency_key=f"{purchase.idempotency_key}-after-{pi.id}"
    )
    if fresh.id == pi.id:
        return purchase
    stored = CoinPurchase.objects.filter(
        pk=purchase.pk, status=CoinPurchase.Status.PENDING, payment_intent_id=pi.id
    ).update(
        payment_intent_id=fresh.id, client_secret=fresh.client_secret, updated_at=timezone.now()
    )
    _cancel_quietly(pi.id if stored else fresh.id)
    purchase.refresh_from_db()
    return purchase


def confirm_tokenised_card(
    *, purchase: CoinPurchase, by, payment_method: str
) -> gateway.PaymentIntentInfo:
    """localstripe only (development, tests): pay with the card the page tokenised. The coins
    still arrive only from the webhook (or reconciliation)."""
    purchase = _payable(purchase, by)
    assert purchase.payment_intent_id is not None
    return gateway.confirm_tokenised_card(
        purchase.payment_intent_id,
        payment_method=payment_method,
        idempotency_key=f"{purchase.idempotency_key}-confirm-{payment_method}",
    )


def request_card_saving(*, purchase: CoinPurchase, by, save: bool = True) -> None:
    """The buyer ticked (or unticked) "Save this card" before paying this purchase."""
    if by is None or purchase.buyer_id != by.pk:
        raise NotFound("No such coin purchase.", code="no_such_purchase")
    if purchase.status != CoinPurchase.Status.PENDING or not purchase.payment_intent_id:
        raise PurchaseNotPayable()
    cards.request_card_saving_for_payment(
        payment_intent_id=purchase.payment_intent_id, by=by, save=save
    )


def pay_with_saved_card(*, purchase: CoinPurchase, by, card_id=None) -> gateway.PaymentIntentInfo:
    """One-tap top-up: pay the purchase with the buyer's saved card (the last saved, or
    `card_id`). Raises CardDeclined, or PaymentError when the bank wants to confirm (the
    purchase stays payable on its page)."""
    card = (
        cards.default_card(user=by)
        if card_id is None
        else cards.get_saved_card(user=by, card_id=card_id)
    )
    if card is None:
        raise NotFound("You have no saved card.", code="no_saved_card")
    purchase = _payable(purchase, by)
    assert purchase.payment_intent_id is not None
    profile = cards.ensure_payment_profile(user=by)
    pi = gateway.confirm_with_saved_card(
        purchase.payment_intent_id,
        customer=profile.stripe_customer_id,
        payment_method=card.payment_method_id,
        idempotency_key=f"{purchase.idempotency_key}-saved-card-{card.pk}-{purchase.payment_intent_id}",
    )
    if pi.status == "requires_action":
        raise PaymentError("Your bank wants to confirm this payment: finish it below.")
    if pi.status not in MONEY_MOVING:
        raise CardDeclined()
    return pi


def buy_with_saved_card(
    *, buyer, pack=None, coins=None, currency=None, card_id=None
) -> CoinPurchase:
    """Start a purchase and pay it with a saved card in one go (the one-tap top-up)."""
    if buyer is None or not getattr(buyer, "is_authenticated", False):
        raise NotAllowed("Sign in to buy coins.")
    if card_id is None and cards.default_card(user=buyer) is None:
        raise NotFound("You have no saved card.", code="no_saved_card")
    purchase = start_purchase(buyer=buyer, pack=pack, coins=coins, currency=currency)
    pay_with_saved_card(purchase=purchase, by=buyer, card_id=card_id)
    purchase.refresh_from_db()
    return purchase


# --- paid: coins credited (webhook, reconciliation) ------------------------------------------


def purchase_id_for(payment_intent_id: str) -> int | None:
    """Our purchase for a PaymentIntent: the stored id, else the PaymentIntent's metadata."""
    pk = (
        CoinPurchase.objects.filter(payment_intent_id=payment_intent_id)
        .values_list("pk", flat=True)
        .first()
    )
    if pk is not None:
        return pk
    pi = gateway.retrieve_payment_intent(payment_intent_id)
    raw = str(pi.metadata.get("coin_purchase_id", ""))
    return int(raw) if raw.isdigit() else None


def _is_for(purchase: CoinPurchase, pi: gateway.PaymentIntentInfo) -> bool:
    if pi.metadata.get("coin_purchase_id") == str(purchase.pk):
        return True
    logger.error("PaymentIntent %s does not belong to coin purchase %s", pi.id, purchase.pk)
    return False


def settle_purchase(*, payment_intent_id: str) -> CoinPurchase | None:
    """Credit the coins if Stripe says the purchase's payment succeeded; running it again, or
    for a replayed event, changes nothing. None if the PaymentIntent is not a coin purchase."""
    purchase_id = purchase_id_for(payment_intent_id)
    if purchase_id is None:
        return None
    pi = gateway.retrieve_payment_intent(payment_intent_id)  # before the lock
    with transaction.atomic():
        purchase = CoinPurchase.objects.select_for_update().filter(pk=purchase_id).first()
        if purchase is None or not _is_for(purchase, pi):
            return purchase
        _settle_locked(purchase, pi)
    return purchase


def _settle_locked(purchase: CoinPurchase, pi: gateway.PaymentIntentInfo) -> None:
    if pi.status != "succeeded":
        return
    if purchase.status == CoinPurchase.Status.PAID:
        if purchase.payment_intent_id != pi.id:
            _refund_duplicate_payment(purchase, pi)
        return
    if (pi.amount_received, pi.currency) != (purchase.total_amount, purchase.currency):
        logger.error(
            "PaymentIntent %s (%s %s) does not match coin purchase %s; left for staff",
            pi.id,
            pi.amount_received,
            pi.currency,
            purchase.pk,
        )
        return
    # A purchase that lapsed unpaid and was paid after all is credited too: the buyer paid.
    now = timezone.now()
    txn = wallet.credit_coins(
        user=purchase.buyer,
        coins=purchase.coins,
        reference=purchase.ledger_reference,
        kind="coin_purchase",
        memo=f"Coin purchase {purchase.pk}: {purchase.coins} coins",
    )
    c = purchase.currency
    ledger.post(
        reference=f"{purchase.ledger_reference}:money",
        kind="coin_purchase",
        memo=f"Coin purchase {purchase.pk} paid ({pi.id})",
        entries=[
            (ledger.account(kind=Kind.BUYER_CLEARING, currency=c), -purchase.total_amount),
            (ledger.account(kind=Kind.PLATFORM_REVENUE, currency=c), purchase.total_amount),
        ],
    )
    purchase.status = CoinPurchase.Status.PAID
    purchase.paid_at = now
    purchase.payment_intent_id = pi.id
    purchase.ledger_transaction = txn
    purchase.save(
        update_fields=["status", "paid_at", "payment_intent_id", "ledger_transaction", "updated_at"]
    )
    purchase_id, buyer_id, coins = purchase.pk, purchase.buyer_id, purchase.coins
    # The card the buyer asked to keep is saved once the payment stands (a Stripe call).
    transaction.on_commit(
        lambda: cards.save_card_after_other_payment(user_id=buyer_id, payment_intent_id=pi.id),
        robust=True,
    )
    transaction.on_commit(
        lambda: coins_credited.send(
            sender=CoinPurchase, purchase_id=purchase_id, buyer_id=buyer_id, coins=coins
        ),
        robust=True,
    )


def _refund_duplicate_payment(purchase: CoinPurchase, pi: gateway.PaymentIntentInfo) -> None:
    """A second PaymentIntent of one purchase was paid too (an abandoned attempt): one
    purchase is credited once, so that money goes back whole, after commit."""
    logger.error("coin purchase %s was paid twice; refunding %s", purchase.pk, pi.id)

    def refund() -> None:
        gateway.create_refund(
            payment_intent_id=pi.id,
            amount=pi.amount_received,
            idempotency_key=f"duplicate-refund-{pi.id}",
            metadata={"coin_purchase_id": str(purchase.pk)},
        )

    transaction.on_commit(refund, robust=True)


def payment_canceled(*, payment_intent_id: str) -> CoinPurchase | None:
    """Stripe cancelled the purchase's current PaymentIntent: the purchase lapses unpaid."""
    pk = (
        CoinPurchase.objects.filter(payment_intent_id=payment_intent_id)
        .values_list("pk", flat=True)
        .first()
    )
    if pk is None:
        return None
    pi = gateway.retrieve_payment_intent(payment_intent_id)
    with transaction.atomic():
        purchase = CoinPurchase.objects.select_for_update().get(pk=pk)
        if pi.status == "succeeded":
            _settle_locked(purchase, pi)
        elif (
            pi.status == "canceled"
            and purchase.status == CoinPurchase.Status.PENDING
            and purchase.payment_intent_id == pi.id
        ):
            purchase.status = CoinPurchase.Status.CANCELED
            purchase.save(update_fields=["status", "updated_at"])
    return purchase


# --- which coins are unspent (first in, first out) ---------------------------------------------


def _purchase_id_of(reference: str) -> int | None:
    if reference.startswith(PURCHASE_REF):
        rest = reference[len(PURCHASE_REF) :]
        return int(rest) if rest.isdigit() else None
    return None


def unspent_by_purchase(*, user, balance: int | None = None, chunk: int = 200) -> dict[int, int]:
    """{purchase id: its coins still in the wallet}, spending the oldest coins first.

    `balance` is the wallet's balance (pass the locked row's when acting on it).
    """
    acct = LedgerAccount.objects.filter(kind=Kind.COIN_WALLET, currency=wallet.COIN, user=user)
    row = acct.values_list("pk", "balance_amount").first()
    if row is None:
        return {}
    acct_id, cached = row
    left = cached if balance is None else balance
    credits = (
        LedgerEntry.objects.filter(account_id=acct_id, amount__gt=0)
        .order_by("-pk")
        .values_list("amount", "transaction__reference")
    )
    found: dict[int, int] = {}
    offset = 0
    while left > 0:
        rows = list(credits[offset : offset + chunk])
        if not rows:
            break
        offset += chunk
        ids = [pid for _, ref in rows if (pid := _purchase_id_of(ref)) is not None]
        taken = dict(
            CoinPurchase.objects.filter(pk__in=ids).values_list(
                "pk", F("coins_refunded") + F("coins_reclaimed")
            )
        )
        for amount, ref in rows:
            pid = _purchase_id_of(ref)
            lot = amount - taken.get(pid, 0) if pid is not None else amount
            share = min(max(lot, 0), left)
            left -= share
            if pid is not None and share:
                found[pid] = share
            if left <= 0:
                break
    return found


def refund_deadline(purchase: CoinPurchase) -> datetime | None:
    if purchase.paid_at is None:
        return None
    return purchase.paid_at + timedelta(days=settings.GIFTS_COIN_REFUND_DAYS)


def refund_amount_for(purchase: CoinPurchase, coins: int) -> int:
    """The money for `coins` of this purchase, at the price actually paid per coin (rounded
    down; all the coins left give back all the money left)."""
    if purchase.coins_refunded + purchase.coins_reclaimed + coins >= purchase.coins:
        return purchase.total_amount - purchase.refunded_amount
    return purchase.total_amount * coins // purchase.coins


# --- refunds -----------------------------------------------------------------------------------


def refund_unused_coins(
    *, purchase: CoinPurchase, by, reason: str = "", now: datetime | None = None
) -> CoinRefund:
    """Give back, for money, every coin of this purchase still unspent: the buyer within the
    refund window, or staff at any time. The coins leave the wallet with the refund record;
    Stripe is asked after commit."""
    refund = _record_refund(purchase=purchase, by=by, reason=reason, now=now or timezone.now())
    transaction.on_commit(lambda: send_refund(refund_id=refund.pk), robust=True)
    return refund


@transaction.atomic
def _record_refund(*, purchase: CoinPurchase, by, reason: str, now: datetime) -> CoinRefund:
    is_staff = bool(getattr(by, "is_staff", False))
    if by is None or (purchase.buyer_id != by.pk and not is_staff):
        raise NotFound("No such coin purchase.", code="no_such_purchase")
    purchase = CoinPurchase.objects.select_for_update().get(pk=purchase.pk)
    if purchase.status != CoinPurchase.Status.PAID:
        raise NothingToRefund("Only a paid purchase can be refunded.")
    deadline = refund_deadline(purchase)
    if not is_staff and deadline is not None and now > deadline:
        raise RefundWindowClosed(
            f"Unused coins can be refunded within {settings.GIFTS_COIN_REFUND_DAYS} days of "
            f"buying them; this purchase's window closed on {deadline:%d %b %Y}."
        )
    locked_wallet = LedgerAccount.objects.select_for_update().get(
        pk=wallet.wallet_account(purchase.buyer).pk
    )
    unspent = unspent_by_purchase(user=purchase.buyer, balance=locked_wallet.balance_amount).get(
        purchase.pk, 0
    )
    if unspent <= 0:
        raise NothingToRefund(
            "All the coins of this purchase were spent or refunded already; spent coins are "
            "not refundable."
        )
    amount = refund_amount_for(purchase, unspent)
    if amount <= 0:
        raise NothingToRefund("The coins left are worth less than the smallest refund.")
    refund = CoinRefund.objects.create(
        purchase=purchase,
        coins=unspent,
        refund_amount=amount,
        currency=purchase.currency,
        requested_by=by,
        reason=(reason or "").strip()[:255],
    )
    txn = wallet.debit_coins(
        user=purchase.buyer,
        coins=unspent,
        reference=f"gifts:coins:refund:{refund.pk}",
        kind="coin_refund",
        memo=f"Refund {refund.pk}: {unspent} unused coins of purchase {purchase.pk}",
    )
    c = purchase.currency
    ledger.post(
        reference=f"gifts:coins:refund:{refund.pk}:money",
        kind="coin_refund",
        memo=f"Refund {refund.pk} of coin purchase {purchase.pk}",
        entries=[
            (ledger.account(kind=Kind.PLATFORM_REVENUE, currency=c), -amount),
            (ledger.account(kind=Kind.BUYER_CLEARING, currency=c), amount),
        ],
    )
    refund.ledger_transaction = txn
    refund.save(update_fields=["ledger_transaction"])
    purchase.coins_refunded += unspent
    purchase.refunded_amount += amount
    purchase.refunded_at = now
    purchase.save(update_fields=["coins_refunded", "refunded_amount", "refunded_at", "updated_at"])
    return refund


_REFUND_STATUS = {
    "succeeded": CoinRefund.Status.SUCCEEDED,
    "pending": CoinRefund.Status.PENDING,
    "requires_action": CoinRefund.Status.PENDING,
    "failed": CoinRefund.Status.FAILED,
    "canceled": CoinRefund.Status.FAILED,
}


def send_refund(*, refund_id: int) -> CoinRefund:
    """Make the refund at Stripe (its key is our row id); safe to run again."""
    refund = CoinRefund.objects.select_related("purchase").get(pk=refund_id)
    if refund.stripe_refund_id:
        return refund
    assert refund.purchase.payment_intent_id is not None
    try:
        made = gateway.create_refund(
            payment_intent_id=refund.purchase.payment_intent_id,
            amount=refund.refund_amount,
            idempotency_key=refund.idempotency_key,
            metadata={
                "coin_refund_id": str(refund.pk),
                "coin_purchase_id": str(refund.purchase_id),
            },
        )
    except PaymentError as exc:
        CoinRefund.objects.filter(pk=refund.pk, stripe_refund_id__isnull=True).update(
            attempts=F("attempts") + 1, last_error=str(exc)[:2000], updated_at=timezone.now()
        )
        logger.warning("coin refund %s failed at Stripe; will retry: %s", refund.pk, exc)
        refund.refresh_from_db()
        return refund
    CoinRefund.objects.filter(pk=refund.pk, stripe_refund_id__isnull=True).update(
        stripe_refund_id=made.id,
        status=_REFUND_STATUS.get(made.status, CoinRefund.Status.PENDING),
        attempts=F("attempts") + 1,
        last_error="",
        updated_at=timezone.now(),
    )
    refund.refresh_from_db()
    return refund


REFUND_MAX_ATTEMPTS = 10


def retry_unsent_refunds() -> int:
    sent = 0
    due = CoinRefund.objects.filter(
        stripe_refund_id__isnull=True, attempts__lt=REFUND_MAX_ATTEMPTS
    ).values_list("pk", flat=True)
    for refund_id in list(due[:200]):
        sent += bool(send_refund(refund_id=refund_id).stripe_refund_id)
    return sent


def record_refund_event(payload: dict) -> None:
    """refund.* / charge.refunded: Stripe's word on a coin refund's status."""
    obj = payload.get("data", {}).get("object", {}) or {}
    found = (obj.get("refunds") or {}).get("data") or [] if obj.get("object") == "charge" else [obj]
    for data in found:
        stripe_id = data.get("id")
        status = _REFUND_STATUS.get(data.get("status") or "")
        if not stripe_id or status is None or status == CoinRefund.Status.PENDING:
            continue
        CoinRefund.objects.filter(stripe_refund_id=stripe_id).exclude(status=status).update(
            status=status, updated_at=timezone.now()
        )


# --- disputes ----------------------------------------------------------------------------------


def dispute_opened(payload: dict) -> CoinDispute | None:
    """charge.dispute.created: take the purchase's unspent coins back (never more than the
    wallet holds) and freeze the buyer's sending until staff act. Idempotent per dispute."""
    obj = payload.get("data", {}).get("object", {}) or {}
    dispute_id = obj.get("id")
    if not dispute_id:
        return None
    pi_id = _dispute_payment_intent(obj)
    if not pi_id or not CoinPurchase.objects.filter(payment_intent_id=pi_id).exists():
        return None  # not a coin purchase (a checkout's dispute is staff's, in orders)
    pi = gateway.retrieve_payment_intent(pi_id)  # before the lock
    with transaction.atomic():
        purchase = CoinPurchase.objects.select_for_update().get(payment_intent_id=pi_id)
        existing = CoinDispute.objects.filter(stripe_dispute_id=dispute_id).first()
        if existing is not None:
            return existing
        # The dispute may arrive before the payment's own event: settle first.
        _settle_locked(purchase, pi)
        return _open_locked(purchase, obj)


def _dispute_payment_intent(obj: dict) -> str | None:
    pi = obj.get("payment_intent")
    if isinstance(pi, dict):
        pi = pi.get("id")
    if pi:
        return str(pi)
    charge = obj.get("charge")
    if isinstance(charge, dict):
        charge = charge.get("id")
    return gateway.payment_intent_of_charge(charge) if charge else None


def _open_locked(purchase: CoinPurchase, obj: dict) -> CoinDispute:
    locked_wallet = LedgerAccount.objects.select_for_update().get(
        pk=wallet.wallet_account(purchase.buyer).pk
    )
    paid = purchase.status == CoinPurchase.Status.PAID
    unspent = (
        unspent_by_purchase(user=purchase.buyer, balance=locked_wallet.balance_amount).get(
            purchase.pk, 0
        )
        if paid
        else 0
    )
    amount = int(obj.get("amount") or purchase.total_amount)
    dispute = CoinDispute.objects.create(
        purchase=purchase,
        stripe_dispute_id=obj["id"],
        disputed_amount=amount,
        currency=str(obj.get("currency") or purchase.currency).upper(),
        reason=str(obj.get("reason") or "")[:64],
        status=str(obj.get("status") or "needs_response")[:32],
        coins_reclaimed=unspent,
        coins_spent=purchase.coins_kept - unspent if paid else 0,
    )
    if unspent:
        dispute.ledger_transaction = wallet.debit_coins(
            user=purchase.buyer,
            coins=unspent,
            reference=f"gifts:coins:dispute:{dispute.pk}",
            kind="coin_dispute",
            memo=f"Dispute {dispute.stripe_dispute_id}: {unspent} unspent coins taken back",
        )
        dispute.save(update_fields=["ledger_transaction"])
        purchase.coins_reclaimed += unspent
        purchase.save(update_fields=["coins_reclaimed", "updated_at"])
    if paid:
        _post_dispute_money(dispute, sign=1, suffix="withdrawn")
    gifting.freeze_gifting(
        user=purchase.buyer,
        reason=(
            f"Card dispute {dispute.stripe_dispute_id} on coin purchase {purchase.pk}: "
            f"{unspent} unspent coins taken back, {dispute.coins_spent} already spent."
        ),
        by=None,
    )
    return dispute


def _post_dispute_money(dispute: CoinDispute, *, sign: int, suffix: str) -> None:
    c = dispute.currency
    amount = dispute.disputed_amount
    ledger.post(
        reference=f"gifts:coins:dispute:{dispute.pk}:{suffix}",
        kind="coin_dispute",
        memo=f"Dispute {dispute.stripe_dispute_id} {suffix}",
        entries=[
            (ledger.account(kind=Kind.PLATFORM_REVENUE, currency=c), -sign * amount),
            (ledger.account(kind=Kind.BUYER_CLEARING, currency=c), sign * amount),
        ],
    )


def dispute_updated(payload: dict) -> CoinDispute | None:
    """charge.dispute.updated / closed: Stripe's status; a won dispute's money comes back."""
    obj = payload.get("data", {}).get("object", {}) or {}
    with transaction.atomic():
        dispute = (
            CoinDispute.objects.select_for_update().filter(stripe_dispute_id=obj.get("id")).first()
        )
        if dispute is None:
            return None
        status = str(obj.get("status") or dispute.status)[:32]
        fields = ["status"]
        dispute.status = status
        if status in ("won", "lost", "warning_closed") and dispute.closed_at is None:
            dispute.closed_at = timezone.now()
            fields.append("closed_at")
            withdrawn = LedgerTransaction.objects.filter(
                reference=f"gifts:coins:dispute:{dispute.pk}:withdrawn"
            ).exists()
            if status == "won" and withdrawn:  # Stripe gave the money back
                _post_dispute_money(dispute, sign=-1, suffix="reinstated")
        dispute.save(update_fields=fields)
    return dispute


@transaction.atomic
def resolve_dispute(*, dispute: CoinDispute, by, note: str, unfreeze: bool) -> CoinDispute:
    """Staff record what they decided; with `unfreeze`, the buyer may send gifts again."""
    if not getattr(by, "is_staff", False):
        raise NotAllowed("Only staff can resolve disputes.")
    note = (note or "").strip()
    if not note:
        raise ShopFeedError("Say why.", code="reason_required", field="note")
    dispute = CoinDispute.objects.select_for_update().select_related("purchase").get(pk=dispute.pk)
    dispute.resolved_by = by
    dispute.resolution_note = note
    dispute.resolved_at = timezone.now()
    dispute.save(update_fields=["resolved_by", "resolution_note", "resolved_at"])
    if unfreeze:
        gifting.unfreeze_gifting(user=dispute.purchase.buyer, reason=note, by=by)
    return dispute


# --- webhook handlers and reconciliation (registered by GiftsConfig.ready) ---------------------


def on_payment_succeeded(payload: dict) -> None:
    pi = payload["data"]["object"]
    if _names_a_purchase(pi):
        settle_purchase(payment_intent_id=pi["id"])


def on_payment_canceled(payload: dict) -> None:
    pi = payload["data"]["object"]
    if _names_a_purchase(pi):
        payment_canceled(payment_intent_id=pi["id"])


def _names_a_purchase(pi: dict) -> bool:
    """Cheap filter: ours by metadata, or a PaymentIntent id we stored (no Stripe call)."""
    if (pi.get("metadata") or {}).get("coin_purchase_id"):
        return True
    return CoinPurchase.objects.filter(payment_intent_id=pi.get("id")).exists()


# Stripe's clock and ours may differ a little: events are looked for this much earlier.
_CLOCK_SKEW = timedelta(minutes=1)


def sweep_missed_payments(now: datetime) -> int:
    """Within seconds, settle purchases Stripe reported paid by a webhook that never reached
    us (one list call, and only while purchases wait unpaid). Returns events processed."""
    due = now - timedelta(seconds=settings.PAYMENT_SWEEP_AFTER_SECONDS)
    pending = list(
        CoinPurchase.objects.filter(
            status=CoinPurchase.Status.PENDING,
            payment_intent_id__isnull=False,
            created_at__lte=due,
            created_at__gte=now - timedelta(minutes=settings.GIFTS_COIN_PURCHASE_EXPIRY_MINUTES),
        )
        .order_by("created_at")
        .values_list("pk", "payment_intent_id", "created_at")[:5000]
    )
    if not pending:
        return 0  # nothing could have been paid: no call to Stripe
    intents = {pi_id for _, pi_id, _ in pending}
    ids = {str(pk) for pk, _, _ in pending}
    fetched = gateway.list_events(
        type="payment_intent.succeeded",
        created_from=int((pending[0][2] - _CLOCK_SKEW).timestamp()),
        created_to=int(due.timestamp()),
    )

    def ours(event: dict) -> bool:
        pi = event.get("data", {}).get("object") or {}
        return pi.get("id") in intents or (
            str((pi.get("metadata") or {}).get("coin_purchase_id", "")) in ids
        )

    return catch_up_events(fetched=[e for e in fetched if ours(e)])


def reconcile_purchases(now: datetime, *, limit: int = 200) -> int:
    """Ask Stripe about unpaid purchases a lost webhook may have left behind, cancel those
    past their time, and retry refunds Stripe has not made. Returns how many got paid."""
    after = now - timedelta(minutes=settings.RECONCILE_AFTER_MINUTES)
    expire_before = now - timedelta(minutes=settings.GIFTS_COIN_PURCHASE_EXPIRY_MINUTES)
    pending = list(
        CoinPurchase.objects.filter(status=CoinPurchase.Status.PENDING, created_at__lte=after)
        .order_by("created_at")
        .values_list("pk", "payment_intent_id", "created_at")[:limit]
    )
    paid = 0
    for pk, pi_id, created_at in pending:
        try:
            paid += _reconcile_one(pk, pi_id, expire=created_at <= expire_before)
        except PaymentError:
            logger.exception("could not reconcile coin purchase %s; will retry", pk)
    retry_unsent_refunds()
    return paid


def _reconcile_one(pk: int, pi_id: str | None, *, expire: bool) -> bool:
    if not pi_id:
        if expire:
            CoinPurchase.objects.filter(
                Q(payment_intent_id__isnull=True), pk=pk, status=CoinPurchase.Status.PENDING
            ).update(status=CoinPurchase.Status.CANCELED, updated_at=timezone.now())
        return False
    pi = gateway.retrieve_payment_intent(pi_id)
    if pi.status not in MONEY_MOVING and pi.status != "canceled" and expire:
        try:
            pi = gateway.cancel_payment_intent(pi_id, idempotency_key=f"cancel-{pi_id}")
        except PaymentError:
            pi = gateway.retrieve_payment_intent(pi_id)  # paid meanwhile? act on what is true
    with transaction.atomic():
        purchase = CoinPurchase.objects.select_for_update().get(pk=pk)
        if purchase.status != CoinPurchase.Status.PENDING or not _is_for(purchase, pi):
            return False
        if pi.status == "succeeded":
            _settle_locked(purchase, pi)
            return True
        if pi.status == "canceled" and purchase.payment_intent_id == pi.id:
            purchase.status = CoinPurchase.Status.CANCELED
            purchase.save(update_fields=["status", "updated_at"])
    return False
