"""Refunds, disputes and sends racing on one wallet, in real threads on PostgreSQL: the purchase
row and then the wallet row are locked, so what a refund or dispute takes back is exactly what
is unspent at that moment, nothing is taken twice and the wallet never goes below zero."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.db.models import Sum

from gifts import wallet
from gifts.coins import services as coins
from gifts.coins.models import CoinPurchase, CoinRefund
from gifts.errors import GiftingFrozen, InsufficientCoins
from gifts.sending.services import send_gift
from orders.ledger.models import LedgerEntry
from orders.tests.payment_helpers import refunds_of
from shopfeed.errors import ShopFeedError

from .coin_factories import dispute_payload, make_pack, paid_purchase
from .factories import AdultCreatorFactory, AdultFactory, GiftFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _race(jobs):
    barrier = threading.Barrier(len(jobs))

    def run(job):
        try:
            barrier.wait()
            return job()
        except (InsufficientCoins, GiftingFrozen, ShopFeedError) as exc:
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run, jobs))


def test_sends_and_two_refunds_racing_take_each_coin_once(localstripe, client):
    buyer, host = AdultFactory(), AdultCreatorFactory()
    purchase = paid_purchase(client, buyer=buyer, pack=make_pack(coins=350, usd=449).pk)
    gift = GiftFactory(coins=30)

    def send(i):
        return lambda: send_gift(sender=buyer, host=host, gift=gift, count=1, client_token=f"r{i}")

    def refund():
        return coins.refund_unused_coins(purchase=purchase, by=buyer)

    results = _race([send(i) for i in range(8)] + [refund, refund])

    refunds = [r for r in results if isinstance(r, CoinRefund)]
    sent = host.gifts_received.aggregate(t=Sum("coins_total"))["t"] or 0
    assert len(refunds) == 1  # the second found nothing left to refund
    assert refunds[0].coins + sent == 350
    assert wallet.wallet_balance(buyer) == 0
    purchase.refresh_from_db()
    assert purchase.coins_refunded == refunds[0].coins
    assert [r["amount"] for r in refunds_of(purchase.payment_intent_id)] == [
        449 * refunds[0].coins // 350 if refunds[0].coins < 350 else 449
    ]
    assert not (
        LedgerEntry.objects.values("transaction_id", "currency")
        .annotate(t=Sum("amount"))
        .exclude(t=0)
        .exists()
    )


def test_a_dispute_racing_sends_takes_back_exactly_what_is_left(localstripe, client):
    buyer, host = AdultFactory(), AdultCreatorFactory()
    purchase = paid_purchase(client, buyer=buyer, pack=make_pack(coins=350, usd=449).pk)
    gift = GiftFactory(coins=40)
    event = json.loads(dispute_payload(purchase, dispute_id="dp_race"))

    def send(i):
        return lambda: send_gift(sender=buyer, host=host, gift=gift, count=1, client_token=f"d{i}")

    _race([send(i) for i in range(6)] + [lambda: coins.dispute_opened(event)] * 2)

    purchase.refresh_from_db()
    sent = host.gifts_received.aggregate(t=Sum("coins_total"))["t"] or 0
    assert purchase.coins_reclaimed + sent == 350
    assert wallet.wallet_balance(buyer) == 0
    assert purchase.disputes.count() == 1
    assert CoinPurchase.objects.get().coins_kept == sent
