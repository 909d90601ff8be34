"""The coin wallet in the ledger: credited once per reference, never below zero, hot accounts
written without a row lock and folded later to the same balance."""

import pytest
from django.db import IntegrityError, transaction
from django.db.models import F, Sum

from gifts import wallet
from gifts.errors import InsufficientCoins
from orders.ledger import services as ledger
from orders.ledger.models import LedgerAccount, LedgerEntry
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.errors import NotAllowed, ShopFeedError

from .factories import give_coins

pytestmark = pytest.mark.django_db
Kind = LedgerAccount.Kind


def test_credit_fills_the_wallet_and_a_repeat_of_the_reference_credits_nothing():
    user = UserFactory()
    wallet.credit_coins(user=user, coins=300, reference="purchase:1", kind="coin_purchase")
    wallet.credit_coins(user=user, coins=300, reference="purchase:1", kind="coin_purchase")
    assert wallet.wallet_balance(user) == 300
    assert ledger.current_balance(wallet.platform_account(Kind.COINS_SOLD)) == -300


@pytest.mark.parametrize("coins", [0, -5, True, "10", 2.5])
def test_credit_refuses_anything_but_a_positive_whole_number(coins):
    user = UserFactory()
    with pytest.raises(ShopFeedError):
        wallet.credit_coins(user=user, coins=coins, reference="x", kind="coin_purchase")
    assert wallet.wallet_balance(user) == 0
    assert not LedgerEntry.objects.exists()


def test_a_debit_larger_than_the_wallet_is_refused_and_moves_nothing():
    user = UserFactory()
    give_coins(user, 50)
    with pytest.raises(InsufficientCoins):
        wallet.debit_coins(user=user, coins=51, reference="dispute:1", kind="coin_dispute")
    assert wallet.wallet_balance(user) == 50
    assert LedgerEntry.objects.count() == 2  # only the credit


@pytest.mark.postgres
def test_the_database_itself_refuses_a_negative_wallet():
    user = UserFactory()
    give_coins(user, 5)
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerAccount.objects.filter(kind=Kind.COIN_WALLET, user=user).update(
            balance_amount=F("balance_amount") - 6
        )


def test_hot_accounts_take_entries_without_moving_their_cached_balance_until_folded():
    users = [UserFactory() for _ in range(3)]
    for i, user in enumerate(users):
        give_coins(user, 100 * (i + 1))
    sold = wallet.platform_account(Kind.COINS_SOLD)
    sold.refresh_from_db()
    assert sold.deferred_balance
    assert sold.balance_amount == 0  # not touched by the postings
    assert ledger.current_balance(sold) == -600
    assert ledger.fold_deferred_balances() == 3
    sold.refresh_from_db()
    assert sold.balance_amount == -600 == ledger.current_balance(sold) == ledger.balance(sold)
    assert ledger.fold_deferred_balances() == 0


def test_staff_adjust_coins_with_a_reason_and_it_is_audited_and_balanced():
    staff = UserFactory(is_staff=True)
    user = UserFactory()
    event = wallet.adjust_coins(user=user, coins=40, reason="Goodwill after outage", by=staff)
    wallet.adjust_coins(user=user, coins=-15, reason="Duplicate goodwill", by=staff)
    assert wallet.wallet_balance(user) == 25
    assert event.ledger_transaction.entries.aggregate(t=Sum("amount"))["t"] == 0
    assert list(user.gifting_events.values_list("coins", "actor", "reason")) == [
        (-15, staff.pk, "Duplicate goodwill"),
        (40, staff.pk, "Goodwill after outage"),
    ]


def test_an_adjustment_cannot_take_more_than_the_wallet_holds():
    staff = UserFactory(is_staff=True)
    user = UserFactory()
    give_coins(user, 10)
    with pytest.raises(InsufficientCoins):
        wallet.adjust_coins(user=user, coins=-11, reason="Chargeback", by=staff)
    assert wallet.wallet_balance(user) == 10
    assert not user.gifting_events.exists()


def test_only_staff_adjust_and_only_with_a_reason():
    user = UserFactory()
    with pytest.raises(NotAllowed):
        wallet.adjust_coins(user=user, coins=10, reason="because", by=UserFactory())
    with pytest.raises(ShopFeedError, match="Say why"):
        wallet.adjust_coins(user=user, coins=10, reason="  ", by=UserFactory(is_staff=True))
    assert wallet.wallet_balance(user) == 0
