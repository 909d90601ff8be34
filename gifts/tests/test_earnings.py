"""Diamonds become money after the payout hold and go out with the ordinary payouts: same
minimum, exactly once, through the real SDK to the Connect stand-in."""

from datetime import timedelta

import pytest
from django.utils import timezone

from gifts import wallet
from gifts.earnings import services as earnings
from gifts.models import DiamondConversion, GiftSend
from gifts.sending.services import send_gift
from gifts.tasks import convert_diamonds_task
from orders.ledger import accounting
from orders.ledger.models import LedgerAccount
from orders.models import Payout
from orders.payouts import services as payouts
from orders.tests.factories import PayoutAccountFactory
from shops.tests.factories import ShopFactory

from .factories import AdultCreatorFactory, AdultFactory, GiftFactory, give_coins

Kind = LedgerAccount.Kind
pytestmark = pytest.mark.django_db


@pytest.fixture
def creator_with_shop():
    creator = AdultCreatorFactory()
    shop = ShopFactory(owner=creator, currency="USD")
    return creator, shop


def _gifts(host, coins_each: int, n: int):
    gift = GiftFactory(coins=coins_each)
    for i in range(n):
        sender = AdultFactory()
        give_coins(sender, coins_each)
        send_gift(sender=sender, host=host, gift=gift, count=1, client_token=f"t{i}")


def test_diamonds_wait_out_the_hold_then_become_the_shops_withdrawable_money(
    settings, creator_with_shop
):
    settings.GIFTS_DIAMOND_VALUE = {"USD": 2}
    creator, shop = creator_with_shop
    _gifts(creator, 1000, 3)  # 3 x 500 diamonds
    now = timezone.now()
    assert earnings.convert_due_diamonds(now=now + timedelta(days=6)) == []
    (conversion,) = earnings.convert_due_diamonds(now=now + timedelta(days=8))
    assert (conversion.diamonds, conversion.amount, conversion.currency) == (1500, 3000, "USD")
    assert wallet.diamonds_balance(creator) == 0
    assert accounting.shop_balances(shop, "USD")["withdrawable"] == 3000
    assert GiftSend.objects.filter(conversion=conversion).count() == 3
    # Idempotent: a second run finds nothing left to convert.
    assert earnings.convert_due_diamonds(now=now + timedelta(days=9)) == []
    assert accounting.shop_balances(shop, "USD")["withdrawable"] == 3000


def test_only_sends_past_the_hold_are_converted(creator_with_shop):
    creator, _shop = creator_with_shop
    _gifts(creator, 100, 2)
    GiftSend.objects.filter(pk=GiftSend.objects.order_by("pk").first().pk).update(
        created_at=timezone.now() - timedelta(days=10)
    )
    (conversion,) = earnings.convert_due_diamonds(now=timezone.now())
    assert conversion.diamonds == 50
    assert wallet.diamonds_balance(creator) == 50


def test_a_creator_without_a_shop_keeps_the_money_in_creator_payable_until_they_open_one():
    creator = AdultCreatorFactory()
    _gifts(creator, 2000, 1)
    earnings.convert_due_diamonds(now=timezone.now() + timedelta(days=8))
    payable = LedgerAccount.objects.get(kind=Kind.CREATOR_PAYABLE, user=creator)
    assert payable.balance_amount == 1000
    shop = ShopFactory(owner=creator, currency="USD")
    _gifts(creator, 20, 1)
    earnings.convert_due_diamonds(now=timezone.now() + timedelta(days=8))
    assert accounting.shop_balances(shop, "USD")["withdrawable"] == 1010


def test_below_the_payout_minimum_the_money_waits_like_any_sellers(settings, creator_with_shop):
    settings.PAYOUT_MINIMUM_AMOUNT = 1000
    creator, shop = creator_with_shop
    PayoutAccountFactory(shop=shop)
    _gifts(creator, 100, 1)
    later = timezone.now() + timedelta(days=8)
    earnings.convert_due_diamonds(now=later)
    assert payouts.create_payouts(now=later) == []
    assert accounting.shop_balances(shop, "USD")["withdrawable"] == 50


def test_gift_earnings_are_paid_out_exactly_once_end_to_end(fake_connect, creator_with_shop):
    creator, shop = creator_with_shop
    PayoutAccountFactory(shop=shop)
    _gifts(creator, 10_000, 2)  # 10,000 diamonds -> 10,000 cents at 1 cent each
    later = timezone.now() + timedelta(days=8)
    convert_diamonds_task.apply()  # now: nothing is past the hold yet
    assert not DiamondConversion.objects.exists()
    earnings.convert_due_diamonds(now=later)
    (payout,) = payouts.create_payouts(now=later)
    assert payout.amount == 10_000
    payouts.send_payout(payout_id=payout.pk)
    payouts.send_payout(payout_id=payout.pk)
    assert len(fake_connect.transfer_requests()) == 1
    (req,) = fake_connect.transfer_requests()
    assert req.form["amount"] == "10000"
    payout.refresh_from_db()
    assert payout.status == Payout.Status.PAID
    assert accounting.shop_balances(shop, "USD")["balance"] == 0
    assert payouts.create_payouts(now=later) == []
