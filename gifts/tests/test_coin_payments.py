"""Buying coins through Stripe (real localstripe, the real stripe SDK, signed webhooks through
our webhook view and the event handler the worker runs): coins arrive only from Stripe's
verified word and once; exact amounts; refunds of unused coins (FIFO) within 14 days;
disputes take unspent coins back and freeze sending; the books always balance."""

from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from gifts import wallet
from gifts.coins import services as coins
from gifts.coins.errors import NothingToRefund, RefundWindowClosed
from gifts.coins.models import CoinDispute, CoinPurchase, CoinRefund
from gifts.errors import GiftingFrozen
from gifts.models import GiftingProfile
from gifts.sending.services import send_gift
from orders.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from orders.models import StripeEvent
from orders.payments import reconcile
from orders.tests.factories import SavedCardFactory
from orders.tests.payment_helpers import (
    event_payload,
    pay,
    payment_intent,
    post_webhook,
    refunds_of,
    sign,
)
from shopfeed.testing import as_if_committed

from .coin_factories import (
    deliver,
    dispute_payload,
    make_pack,
    paid_purchase,
    succeeded_payload,
)
from .factories import AdultCreatorFactory, AdultFactory, GiftFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
Kind = LedgerAccount.Kind


@pytest.fixture
def buyer(db):
    return AdultFactory()


@pytest.fixture
def host(db):
    return AdultCreatorFactory()


@pytest.fixture
def pack(db):
    return make_pack(coins=350, usd=449)


def assert_books_balance():
    """Every ledger transaction sums to zero per currency; no wallet below zero; each
    wallet's cached balance is the sum of its entries."""
    unbalanced = (
        LedgerEntry.objects.values("transaction_id", "currency")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
    )
    assert list(unbalanced) == []
    for acct in LedgerAccount.objects.filter(kind=Kind.COIN_WALLET):
        total = acct.entries.aggregate(t=Sum("amount"))["t"] or 0
        assert acct.balance_amount == total >= 0


def _send(sender, host, coins_each, count=1, token="t"):  # noqa: S107 - a client token
    gift = GiftFactory(coins=coins_each)
    return send_gift(sender=sender, host=host, gift=gift, count=count, client_token=token)


# --- credited only from Stripe's verified word, once ----------------------------------------


def test_coins_arrive_from_the_verified_webhook_once_however_often_it_is_delivered(
    localstripe, client, buyer, pack
):
    purchase = coins.start_purchase(buyer=buyer, pack=pack.pk)
    assert payment_intent(purchase.payment_intent_id)["amount"] == 449
    pay(purchase.payment_intent_id)
    assert wallet.wallet_balance(buyer) == 0  # paid at Stripe, but nothing said so yet

    payload = succeeded_payload(purchase)
    deliver(client, payload)
    deliver(client, payload)  # the same event again (a replay)
    deliver(client, succeeded_payload(purchase))  # a second event for the same payment

    purchase.refresh_from_db()
    assert purchase.status == CoinPurchase.Status.PAID
    assert purchase.paid_at is not None
    assert wallet.wallet_balance(buyer) == 350
    assert StripeEvent.objects.count() == 2
    assert LedgerTransaction.objects.filter(reference=purchase.ledger_reference).count() == 1
    money = LedgerTransaction.objects.get(reference=f"{purchase.ledger_reference}:money")
    assert sorted(money.entries.values_list("amount", flat=True)) == [-449, 449]
    assert_books_balance()


def test_a_forged_webhook_credits_nothing(localstripe, client, buyer, pack):
    purchase = coins.start_purchase(buyer=buyer, pack=pack.pk)
    pay(purchase.payment_intent_id)
    payload = succeeded_payload(purchase)

    response = post_webhook(client, payload, sign(payload, secret="whsec_not_ours"))

    assert response.status_code == 400
    assert not StripeEvent.objects.exists()
    assert wallet.wallet_balance(buyer) == 0
    assert CoinPurchase.objects.get().status == CoinPurchase.Status.PENDING


def test_a_signed_event_for_a_payment_stripe_has_not_taken_credits_nothing(
    localstripe, client, buyer, pack
):
    # Stripe's current word is what counts, not the event: the card was never confirmed.
    purchase = coins.start_purchase(buyer=buyer, pack=pack.pk)

    deliver(client, succeeded_payload(purchase))

    assert wallet.wallet_balance(buyer) == 0
    assert CoinPurchase.objects.get().status == CoinPurchase.Status.PENDING


def test_reconciliation_credits_a_paid_purchase_whose_webhook_never_came(
    localstripe, buyer, pack, settings
):
    purchase = coins.start_purchase(buyer=buyer, pack=pack.pk)
    pay(purchase.payment_intent_id)
    later = timezone.now() + timedelta(minutes=settings.RECONCILE_AFTER_MINUTES + 1)

    reconcile.reconcile_payments(now=later)
    reconcile.reconcile_payments(now=later)

    assert CoinPurchase.objects.get().status == CoinPurchase.Status.PAID
    assert wallet.wallet_balance(buyer) == 350


def test_an_unpaid_purchase_lapses_and_its_payment_intent_is_cancelled(
    localstripe, buyer, pack, settings
):
    purchase = coins.start_purchase(buyer=buyer, pack=pack.pk)
    later = timezone.now() + timedelta(minutes=settings.GIFTS_COIN_PURCHASE_EXPIRY_MINUTES + 1)

    reconcile.reconcile_payments(now=later)

    purchase.refresh_from_db()
    assert purchase.status == CoinPurchase.Status.CANCELED
    assert payment_intent(purchase.payment_intent_id)["status"] == "canceled"
    assert wallet.wallet_balance(buyer) == 0


def test_one_tap_pays_with_the_saved_card_and_coins_still_wait_for_the_webhook(
    localstripe, client, buyer, pack
):
    card = SavedCardFactory(user=buyer)

    purchase = coins.buy_with_saved_card(buyer=buyer, pack=pack.pk)

    pi = payment_intent(purchase.payment_intent_id)
    assert (pi["status"], pi["payment_method"]) == ("succeeded", card.payment_method_id)
    assert wallet.wallet_balance(buyer) == 0
    deliver(client, succeeded_payload(purchase))
    assert wallet.wallet_balance(buyer) == 350


# --- exact amounts ---------------------------------------------------------------------------


def test_a_viewer_short_of_a_gift_buys_exactly_the_shortfall_and_can_send_it(
    localstripe, client, buyer, host, settings
):
    settings.GIFTS_COIN_VALUE_PER_100 = {"USD": 129, "EUR": 119}
    wallet.credit_coins(user=buyer, coins=20, reference="test:start", kind="coin_test_credit")
    lion = GiftFactory(name="Lion", coins=300)
    shortfall = lion.coins - wallet.wallet_balance(buyer)

    purchase = paid_purchase(client, buyer=buyer, coins=shortfall)

    assert (purchase.coins, purchase.total_amount, purchase.pack) == (280, 361, None)
    assert payment_intent(purchase.payment_intent_id)["amount"] == 361  # 280 x $0.0129
    assert wallet.wallet_balance(buyer) == 300
    send_gift(sender=buyer, host=host, gift=lion, count=1, client_token="lion-1")
    assert wallet.wallet_balance(buyer) == 0
    assert_books_balance()


# --- refunds of unused coins -------------------------------------------------------------------


def test_a_refund_within_14_days_gives_back_only_the_unused_coins(
    localstripe, client, buyer, host, pack
):
    purchase = paid_purchase(client, buyer=buyer, pack=pack.pk)
    _send(buyer, host, 100)  # 100 of the 350 spent

    with as_if_committed():
        refund = coins.refund_unused_coins(purchase=purchase, by=buyer)

    assert (refund.coins, refund.refund_amount) == (250, 449 * 250 // 350)
    refund.refresh_from_db()
    assert refund.stripe_refund_id
    assert [(r["amount"], r["status"]) for r in refunds_of(purchase.payment_intent_id)] == [
        (320, "succeeded")
    ]
    purchase.refresh_from_db()
    assert (purchase.coins_refunded, purchase.refunded_amount) == (250, 320)
    assert wallet.wallet_balance(buyer) == 0
    assert wallet.diamonds_balance(host) == 50  # what was spent stays with the creator
    with pytest.raises(NothingToRefund):
        coins.refund_unused_coins(purchase=purchase, by=buyer)
    assert len(refunds_of(purchase.payment_intent_id)) == 1
    assert_books_balance()


def test_the_oldest_coins_are_spent_first(localstripe, client, buyer, host):
    older = paid_purchase(client, buyer=buyer, pack=make_pack(coins=70, usd=89).pk)
    newer = paid_purchase(client, buyer=buyer, pack=make_pack(coins=350, usd=449).pk)
    _send(buyer, host, 100)  # all 70 of the older purchase, then 30 of the newer

    assert coins.unspent_by_purchase(user=buyer) == {newer.pk: 320}
    with pytest.raises(NothingToRefund, match="spent"):
        coins.refund_unused_coins(purchase=older, by=buyer)
    with as_if_committed():
        refund = coins.refund_unused_coins(purchase=newer, by=buyer)
    assert (refund.coins, refund.refund_amount) == (320, 449 * 320 // 350)
    assert wallet.wallet_balance(buyer) == 0


def test_a_refund_after_14_days_is_refused_and_nothing_moves(localstripe, client, buyer, pack):
    purchase = paid_purchase(client, buyer=buyer, pack=pack.pk)
    entries = LedgerEntry.objects.count()

    with pytest.raises(RefundWindowClosed, match="14 days"):
        coins.refund_unused_coins(
            purchase=purchase, by=buyer, now=purchase.paid_at + timedelta(days=14, minutes=1)
        )

    assert wallet.wallet_balance(buyer) == 350
    assert not CoinRefund.objects.exists()
    assert LedgerEntry.objects.count() == entries
    assert refunds_of(purchase.payment_intent_id) == []


def test_a_refund_stripe_refuses_keeps_its_record_and_is_retried(
    localstripe, client, buyer, pack, settings
):
    purchase = paid_purchase(client, buyer=buyer, pack=pack.pk)
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # Stripe unreachable for the first try
    with as_if_committed():
        refund = coins.refund_unused_coins(purchase=purchase, by=buyer)
    refund.refresh_from_db()
    assert (refund.stripe_refund_id, refund.attempts) == (None, 1)
    assert refund.last_error
    assert wallet.wallet_balance(buyer) == 0  # the coins left with the decision

    settings.STRIPE_API_BASE = localstripe
    reconcile.reconcile_payments()

    refund.refresh_from_db()
    assert refund.stripe_refund_id
    assert [r["amount"] for r in refunds_of(purchase.payment_intent_id)] == [449]


# --- disputes ----------------------------------------------------------------------------------


def test_a_dispute_takes_back_the_unspent_coins_and_freezes_sending(
    localstripe, client, buyer, host, pack
):
    purchase = paid_purchase(client, buyer=buyer, pack=pack.pk)
    _send(buyer, host, 100, token="before")

    deliver(client, dispute_payload(purchase))
    deliver(client, dispute_payload(purchase))  # the event again: nothing more happens

    dispute = CoinDispute.objects.get()
    assert (dispute.coins_reclaimed, dispute.coins_spent) == (250, 100)
    assert wallet.wallet_balance(buyer) == 0
    assert wallet.diamonds_balance(host) == 50  # spent coins stay with the creator
    assert GiftingProfile.objects.get(user=buyer).is_frozen
    wallet.credit_coins(user=buyer, coins=10, reference="test:after", kind="coin_test_credit")
    with pytest.raises(GiftingFrozen):
        _send(buyer, host, 1, token="after")
    assert wallet.wallet_balance(buyer) == 10
    assert_books_balance()


def test_a_dispute_never_takes_more_than_the_wallet_holds(localstripe, client, buyer, host, pack):
    purchase = paid_purchase(client, buyer=buyer, pack=pack.pk)
    _send(buyer, host, 350)  # all of it spent

    deliver(client, dispute_payload(purchase, dispute_id="dp_all_spent"))

    dispute = CoinDispute.objects.get()
    assert (dispute.coins_reclaimed, dispute.coins_spent) == (0, 350)
    assert wallet.wallet_balance(buyer) == 0
    assert GiftingProfile.objects.get(user=buyer).is_frozen


def test_a_dispute_naming_only_the_charge_finds_its_purchase(localstripe, client, buyer, pack):
    purchase = paid_purchase(client, buyer=buyer, pack=pack.pk)
    pi = payment_intent(purchase.payment_intent_id)
    charge = pi.get("latest_charge") or pi["charges"]["data"][0]["id"]
    charge = charge["id"] if isinstance(charge, dict) else charge

    deliver(
        client,
        dispute_payload(purchase, dispute_id="dp_by_charge", payment_intent=None, charge=charge),
    )

    assert CoinDispute.objects.get().coins_reclaimed == 350
    assert wallet.wallet_balance(buyer) == 0


def test_a_dispute_arriving_before_the_payment_event_settles_first(
    localstripe, client, buyer, pack
):
    purchase = coins.start_purchase(buyer=buyer, pack=pack.pk)
    pay(purchase.payment_intent_id)

    deliver(client, dispute_payload(purchase, dispute_id="dp_early"))
    deliver(client, succeeded_payload(purchase))

    purchase.refresh_from_db()
    assert purchase.status == CoinPurchase.Status.PAID
    assert purchase.coins_reclaimed == 350
    assert wallet.wallet_balance(buyer) == 0
    assert_books_balance()


def test_a_won_dispute_puts_the_money_back_on_the_books(localstripe, client, buyer, pack):
    purchase = paid_purchase(client, buyer=buyer, pack=pack.pk)
    deliver(client, dispute_payload(purchase, dispute_id="dp_won"))

    deliver(
        client,
        event_payload(
            "charge.dispute.closed",
            {"id": "dp_won", "object": "dispute", "status": "won"},
        ),
    )

    dispute = CoinDispute.objects.get()
    assert dispute.status == "won"
    assert dispute.closed_at is not None
    reinstated = LedgerTransaction.objects.get(
        reference=f"gifts:coins:dispute:{dispute.pk}:reinstated"
    )
    assert sorted(reinstated.entries.values_list("amount", flat=True)) == [-449, 449]
    assert_books_balance()


def test_a_frozen_buyer_cannot_buy_coins_either(buyer, pack):
    from gifts import services as gifting
    from gifts.coins.errors import CoinBuyingFrozen

    gifting.freeze_gifting(user=buyer, reason="Card dispute", by=None)

    with pytest.raises(CoinBuyingFrozen):
        coins.start_purchase(buyer=buyer, pack=pack.pk)
    assert not CoinPurchase.objects.exists()


def test_a_buyer_may_leave_only_so_many_purchases_unpaid(localstripe, buyer, pack, settings):
    from gifts.coins.errors import TooManyPendingPurchases

    settings.GIFTS_COIN_PENDING_LIMIT = 2
    coins.start_purchase(buyer=buyer, pack=pack.pk)
    coins.start_purchase(buyer=buyer, coins=100)

    with pytest.raises(TooManyPendingPurchases) as refused:
        coins.start_purchase(buyer=buyer, pack=pack.pk)
    assert refused.value.status_code == 429
    assert CoinPurchase.objects.count() == 2


def test_the_payment_sweep_settles_a_purchase_whose_webhook_never_came_within_seconds(
    localstripe, buyer, pack, settings
):
    purchase = coins.start_purchase(buyer=buyer, pack=pack.pk)
    pay(purchase.payment_intent_id)  # localstripe records payment_intent.succeeded
    soon = timezone.now() + timedelta(seconds=settings.PAYMENT_SWEEP_AFTER_SECONDS + 2)

    reconcile.sweep_payments(now=soon)
    reconcile.sweep_payments(now=soon)

    assert CoinPurchase.objects.get().status == CoinPurchase.Status.PAID
    assert wallet.wallet_balance(buyer) == 350
    assert StripeEvent.objects.filter(type="payment_intent.succeeded").count() == 1
