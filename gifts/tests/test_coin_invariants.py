"""The coin books always balance, whatever happens in whatever order.

Hypothesis generates histories of coin credits (purchases), sends (good and bad: counts out
of range, too few coins, replayed client tokens, frozen senders), staff adjustments both
ways, debits (refunds and disputes of purchases), folds of the hot accounts and diamond
conversions after the hold, and checks after each history that:
- every ledger transaction sums to zero per currency, and all COIN balances sum to zero;
- no wallet is below zero, by its cached balance or by its entries;
- per user: coins in (credits + adjustments - debits) = coins held + coins spent on gifts;
- per creator: diamonds held = the creator shares of their unconverted sends, and the
  converted diamonds = the shares of the converted ones;
- a refused operation moved nothing (no new ledger entry);
- after a fold every cached balance equals the sum of its account's entries.
"""

from collections import defaultdict
from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from gifts import services, wallet
from gifts.earnings import services as earnings
from gifts.models import DiamondConversion, GiftSend
from gifts.sending.services import send_gift
from orders.ledger import services as ledger
from orders.ledger.models import LedgerAccount, LedgerEntry
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.errors import ShopFeedError
from shops.tests.factories import ShopFactory

from .factories import AdultCreatorFactory, AdultFactory, GiftFactory

Kind = LedgerAccount.Kind
USERS = 3
HOSTS = 2
GIFT_COINS = (1, 7, 300)

user_i = st.integers(0, USERS - 1)
# Mostly counts a sender can afford, sometimes ones the service must refuse.
count = st.one_of(st.integers(1, 4), st.integers(1, 4), st.sampled_from([-1, 0, 99, 100]))
send = st.tuples(
    st.just("send"),
    user_i,
    st.integers(0, HOSTS - 1),
    st.integers(0, len(GIFT_COINS) - 1),
    count,
    st.integers(0, 6),  # few tokens, so resends happen
)
# Every history starts by filling the wallets, then sends weigh most among the rest.
operations = st.tuples(
    st.lists(st.integers(200, 2_000), min_size=USERS, max_size=USERS),
    st.lists(
        st.one_of(
            send,
            send,
            send,
            st.tuples(st.just("credit"), user_i, st.integers(1, 2_000)),
            st.tuples(st.just("adjust"), user_i, st.integers(-600, 600).filter(bool)),
            st.tuples(st.just("debit"), user_i, st.integers(1, 1_000)),
            st.tuples(st.just("freeze"), user_i),
            st.tuples(st.just("fold")),
            st.tuples(st.just("convert")),
        ),
        min_size=8,
        max_size=30,
    ),
).map(lambda parts: [("credit", i, c) for i, c in enumerate(parts[0])] + parts[1])


class World:
    def __init__(self, cast):
        self.staff, self.users, self.hosts, self.gifts = cast
        self.coins_in: dict[int, int] = defaultdict(int)
        self.serial = 0

    def apply(self, op):
        before = LedgerEntry.objects.count()
        try:
            getattr(self, op[0])(*op[1:])
        except ShopFeedError:
            assert LedgerEntry.objects.count() == before, f"{op} was refused but moved coins"

    def _ref(self) -> str:
        self.serial += 1
        return f"prop:{self.serial}"

    def credit(self, i, coins):
        wallet.credit_coins(user=self.users[i], coins=coins, reference=self._ref(), kind="buy")
        self.coins_in[i] += coins

    def debit(self, i, coins):
        wallet.debit_coins(user=self.users[i], coins=coins, reference=self._ref(), kind="refund")
        self.coins_in[i] -= coins

    def adjust(self, i, coins):
        wallet.adjust_coins(user=self.users[i], coins=coins, reason="generated", by=self.staff)
        self.coins_in[i] += coins

    def send(self, i, h, g, count, token):
        send_gift(
            sender=self.users[i],
            host=self.hosts[h],
            gift=self.gifts[g],
            count=count,
            client_token=f"tok{token}",
        )

    def freeze(self, i):
        user = self.users[i]
        if services.gifting_profile(user).is_frozen:
            services.unfreeze_gifting(user=user, reason="generated", by=self.staff)
        else:
            services.freeze_gifting(user=user, reason="generated")

    def fold(self):
        ledger.fold_deferred_balances()

    def convert(self):
        earnings.convert_due_diamonds(now=timezone.now() + timedelta(days=8))


def check_books(world: World):
    unbalanced = (
        LedgerEntry.objects.values("transaction_id", "currency")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
    )
    assert list(unbalanced) == []
    coin_total = LedgerEntry.objects.filter(currency="COIN").aggregate(t=Sum("amount"))["t"]
    assert (coin_total or 0) == 0

    for i, user in enumerate(world.users):
        held = wallet.wallet_balance(user)
        assert held >= 0
        assert ledger.balance(wallet.wallet_account(user)) == held
        spent = GiftSend.objects.filter(sender=user).aggregate(t=Sum("coins_total"))["t"] or 0
        assert world.coins_in[i] == held + spent, user

    for host in world.hosts:
        sends = GiftSend.objects.filter(host=host)
        unconverted = sends.filter(conversion__isnull=True).aggregate(t=Sum("creator_diamonds"))
        converted = sends.filter(conversion__isnull=False).aggregate(t=Sum("creator_diamonds"))
        assert wallet.diamonds_balance(host) == (unconverted["t"] or 0)
        conversions = DiamondConversion.objects.filter(creator=host).aggregate(t=Sum("diamonds"))
        assert (conversions["t"] or 0) == (converted["t"] or 0)

    for send in GiftSend.objects.select_related("gift"):
        assert send.coins_total == send.gift.coins * send.count
        assert send.creator_diamonds + send.platform_coins == send.coins_total

    ledger.fold_deferred_balances()
    for acct in LedgerAccount.objects.all():
        assert acct.balance_amount == ledger.balance(acct), acct


@pytest.fixture
def cast(db):
    staff = UserFactory(is_staff=True)
    users = [AdultFactory() for _ in range(USERS)]
    hosts = [AdultCreatorFactory() for _ in range(HOSTS)]
    ShopFactory(owner=hosts[0], currency="USD")  # the other keeps money in creator payable
    gifts = [GiftFactory(coins=c) for c in GIFT_COINS]
    return staff, users, hosts, gifts


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
def test_any_history_of_credits_sends_adjustments_and_conversions_keeps_the_coin_books(ops, cast):
    with transaction.atomic():  # each example rolls back, so the next one starts empty
        world = World(cast)
        for op in ops:
            world.apply(op)
        check_books(world)
        transaction.set_rollback(True)
