"""Property test of the coin books over any sequence of purchases, sends, refunds and disputes.

Sends take both paths: the PostgreSQL one (HTTP) and, with Redis, the room's (reserved
against the Redis mirror of the wallet by gifts' script, written by the batch writer at a
"write" step or at the end, so purchases, refunds and disputes land while sends are pending).

Stripe is not what is under test here (test_coin_payments.py runs the same services against
localstripe): a purchase is credited through the same settle step the webhook handler runs,
handed the "succeeded" PaymentIntent Stripe would return, so that hundreds of steps stay fast.
"""

import time
import uuid

import pytest
from django.db import transaction
from django.db.models import Sum
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gifts import wallet
from gifts.coins import services as coins
from gifts.coins.models import CoinPurchase
from gifts.errors import GiftingFrozen, InsufficientCoins
from gifts.sending import mirror, store, writer
from gifts.sending.services import send_gift
from orders import gateway
from orders.ledger.models import LedgerAccount, LedgerEntry
from shopfeed.errors import ShopFeedError

from .factories import AdultCreatorFactory, AdultFactory, GiftFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
Kind = LedgerAccount.Kind

step = st.one_of(
    st.tuples(st.just("buy"), st.integers(min_value=39, max_value=2_000)),
    st.tuples(st.just("send"), st.integers(min_value=1, max_value=99)),
    st.tuples(st.just("refund"), st.integers(min_value=0, max_value=20)),
    st.tuples(st.just("dispute"), st.integers(min_value=0, max_value=20)),
    st.tuples(st.just("room"), st.integers(min_value=1, max_value=99)),
    st.tuples(st.just("write"), st.just(0)),
)


def _credit(buyer, n: int) -> CoinPurchase:
    purchase = CoinPurchase.objects.create(
        buyer=buyer, coins=n, total_amount=coins.exact_price(n, "USD"), currency="USD"
    )
    pi = gateway.PaymentIntentInfo(
        id=f"pi_prop_{purchase.pk}",
        status="succeeded",
        amount=purchase.total_amount,
        amount_received=purchase.total_amount,
        currency="USD",
        client_secret="",
        metadata={"coin_purchase_id": str(purchase.pk)},
    )
    with transaction.atomic():
        locked = CoinPurchase.objects.select_for_update().get(pk=purchase.pk)
        coins._settle_locked(locked, pi)
    return locked


def _dispute(purchase: CoinPurchase, n: int) -> None:
    with transaction.atomic():
        locked = CoinPurchase.objects.select_for_update().get(pk=purchase.pk)
        coins._open_locked(
            locked, {"id": f"dp_prop_{purchase.pk}_{n}", "amount": purchase.total_amount}
        )


def _room_send(buyer, host, gift, count: int, token: str) -> bool:
    """A room send's Redis part (the script the room runs, without its event): True if taken."""
    today = timezone.localdate()
    for _ in range(3):
        code, *_ = store.reserve(
            uid=uuid.uuid4().hex, sender_id=buyer.pk, host_id=host.pk, gift_id=gift.pk,
            count=count, coins=gift.coins * count, session_id=None, client_token=token,
            today=mirror.today_number(today), day=today.isoformat(),
            sent_ms=int(time.time() * 1000),
        )  # fmt: skip
        if code == "prime":
            mirror.prime_sender(user_id=buyer.pk)
        elif code == "host":
            mirror.host_facts(host.pk)
        else:
            return code == "ok"
    raise AssertionError("the mirror was primed and still not usable")


def _write_all() -> None:
    writer.drain(consumer="property", max_batches=100)


def _play(steps, buyer, host, gifts) -> dict:
    purchases: list[CoinPurchase] = []
    sent = 0
    for n, (kind, value) in enumerate(steps):
        try:
            if kind == "room" and store.enabled():
                gift = gifts[value % len(gifts)]
                _room_send(buyer, host, gift, 1 + value % 5, f"r{n}")
            elif kind == "write" and store.enabled():
                _write_all()
            elif kind == "buy":
                purchases.append(_credit(buyer, value))
            elif kind == "send":
                gift = gifts[value % len(gifts)]
                send_gift(
                    sender=buyer, host=host, gift=gift, count=1 + value % 5, client_token=f"s{n}"
                )
                sent += gift.coins * (1 + value % 5)
            elif purchases and kind == "refund":
                coins.refund_unused_coins(purchase=purchases[value % len(purchases)], by=buyer)
            elif purchases and kind == "dispute":
                _dispute(purchases[value % len(purchases)], n)
        except (InsufficientCoins, GiftingFrozen, ShopFeedError):
            pass  # refused, and (checked below) nothing half-written
    if store.enabled():
        _write_all()
        # What the room sends wrote (the writer refuses what PostgreSQL says does not fit).
        sent += sum(s.coins_total for s in buyer.gifts_sent.filter(client_token__startswith="r"))
    return {"sent": sent}


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, max_size=14))
# Room sends written, some refused, one still pending at the end (written by the final drain).
@example(steps=[("buy", 100), ("room", 3), ("room", 4), ("write", 0), ("room", 1)])
def test_the_coin_books_hold_over_any_purchases_sends_refunds_and_disputes(steps):
    # Gift keys of this example's own (with Redis; without it, room steps do nothing).
    with override_settings(GIFTS_KEY_PREFIX=f"gifts-prop-{uuid.uuid4().hex[:10]}:"):
        try:
            _check_books(steps)
        finally:
            if store.enabled():
                keys = list(store.client().scan_iter(f"{store.prefix()}*"))
                if keys:
                    store.client().delete(*keys)


def _check_books(steps):
    with transaction.atomic():
        buyer, host = AdultFactory(), AdultCreatorFactory()
        gifts = [GiftFactory(coins=c) for c in (1, 30, 299)]
        played = _play(steps, buyer, host, gifts)
        purchases = list(CoinPurchase.objects.filter(buyer=buyer))
        balance = wallet.wallet_balance(buyer)

        # Every posting balances per currency; the wallet never went below zero.
        assert not (
            LedgerEntry.objects.values("transaction_id", "currency")
            .annotate(t=Sum("amount"))
            .exclude(t=0)
            .exists()
        )
        wallet_acct = LedgerAccount.objects.filter(kind=Kind.COIN_WALLET, user=buyer).first()
        entries = wallet_acct.entries.aggregate(t=Sum("amount"))["t"] if wallet_acct else 0
        assert balance == (entries or 0) >= 0
        # Coins in = coins held + coins spent + coins given back.
        bought = sum(p.coins for p in purchases if p.status == CoinPurchase.Status.PAID)
        given_back = sum(p.coins_refunded + p.coins_reclaimed for p in purchases)
        assert bought == balance + played["sent"] + given_back
        # What the wallet holds belongs to its purchases, never more than each kept.
        unspent = coins.unspent_by_purchase(user=buyer)
        assert sum(unspent.values()) == balance
        for p in purchases:
            assert 0 <= unspent.get(p.pk, 0) <= p.coins_kept
            assert p.refunded_amount <= p.total_amount
        # The creator's diamonds are their share of every send, refunds and disputes aside.
        assert wallet.diamonds_balance(host) == sum(
            s.creator_diamonds for s in host.gifts_received.all()
        )
        # Nothing pending, a Redis mirror of the wallet the script would use now (primed and
        # not marked stale by a change since) says what PostgreSQL holds.
        held = store.mirror(buyer.pk) if store.enabled() else {}
        if "pg" in held and held.get("ver", "0") == held.get("fresh"):
            assert store.spendable(buyer.pk) == balance
        transaction.set_rollback(True)
