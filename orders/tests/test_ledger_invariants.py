"""The books always balance, whatever happens in whatever order.

Hypothesis generates sequences of sales, deliveries, partial refunds (before and after the
hold passes, and after payouts), time passing, payout runs (with Stripe refusing some
sellers' accounts, and staff holding some) and checks after each sequence that:
- every ledger transaction sums to zero, and so does the sum of all balances;
- money in (buyers' payments net of refunds = -clearing) = paid out + platform revenue +
  sellers' balances (held + withdrawable + in transit), per currency and per shop;
- no payout is more than the seller could withdraw when it was made, and no seller was ever
  paid more than was released to them;
- every cached balance equals the sum of its account's entries.
Sales are paid at localstripe and settled by the payment service; deliveries and refunds go
through orders.fulfilment (refunds at localstripe), payouts through orders.payouts with the
real SDK to the Connect stand-in (which forwards the rest to localstripe). Deliveries happen
at the real clock's now and the generated clock runs ahead of it, as `now` for the payout
services.
"""

import contextlib
from collections import defaultdict
from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from orders.errors import PaymentError
from orders.fulfilment import services as fulfilment
from orders.ledger import accounting
from orders.ledger import services as ledger
from orders.ledger.models import LedgerAccount, LedgerEntry
from orders.models import Order, Payout
from orders.payouts import services as payouts
from shopfeed.accounts.tests.factories import UserFactory
from shops.tests.factories import ShopFactory

from .factories import PaidOrderFactory, PayoutAccountFactory, RefundFactory

Kind = LedgerAccount.Kind
SHOP_CURRENCIES = ("USD", "USD", "EUR")

shop_index = st.integers(0, len(SHOP_CURRENCIES) - 1)
order_pick = st.integers(0, 10_000)
sale = st.tuples(st.just("sale"), shop_index, st.integers(1, 40_000))
# Every history starts with a sale or three: a sale goes through the real payment path (about
# 0.1 s on a quiet machine), so examples are few and none is spent on an empty book.
operations = st.tuples(
    st.lists(sale, min_size=1, max_size=2),
    st.lists(
        st.one_of(
            sale,
            st.tuples(st.just("deliver"), order_pick),
            st.tuples(st.just("refund"), order_pick, st.integers(1, 40_000)),
            st.tuples(st.just("days"), st.integers(1, 10)),
            st.tuples(st.just("payout_run")),
            st.tuples(st.just("stripe_refuses"), shop_index),
            st.tuples(st.just("hold"), shop_index),
        ),
        max_size=20,
    ),
).map(lambda parts: parts[0] + parts[1])


class World:
    """One generated history, applied through the real services."""

    def __init__(self, fake, cast):
        self.fake = fake
        self.now = timezone.now()
        self.staff, self.buyer, self.shops, self.destinations = cast
        self.held = [False] * len(self.shops)
        self.orders: list[Order] = []
        self.withdrawable_when_paid: dict[int, int] = {}

    def apply(self, op):
        getattr(self, op[0])(*op[1:])

    def sale(self, i, total):
        shop = self.shops[i]
        self.orders.append(PaidOrderFactory(shop=shop, price_amount=total, buyer=self.buyer))

    def deliver(self, pick):
        if self.orders:
            order = self.orders[pick % len(self.orders)]
            order.refresh_from_db()
            if order.status == Order.Status.PAID:
                by = order.shop.owner
                fulfilment.ship_order(order=order, by=by, carrier="UPS", tracking_number="1Z")
                fulfilment.mark_delivered(order=order, by=by)

    def refund(self, pick, amount):
        if self.orders:
            order = self.orders[pick % len(self.orders)]
            order.refresh_from_db()
            amount = min(amount, order.refundable_amount)
            if amount > 0:
                RefundFactory(order=order, amount=amount)

    def days(self, n):
        self.now += timedelta(days=n)
        payouts.release_due_payables(now=self.now)

    def payout_run(self):
        before = {
            (a.shop_id, a.currency): a.balance_amount
            for a in LedgerAccount.objects.filter(kind=Kind.SELLER_AVAILABLE)
        }
        for p in payouts.create_payouts(now=self.now):
            self.withdrawable_when_paid[p.pk] = before[(p.shop_id, p.currency)]
        for pk in Payout.objects.filter(status__in=payouts.UNSENT_STATUSES).values_list(
            "pk", flat=True
        ):
            # A refusal is recorded on the payout; the next run tries again.
            with contextlib.suppress(PaymentError):
                payouts.send_payout(payout_id=pk)

    def stripe_refuses(self, i):
        self.fake.refuse_destinations ^= {self.destinations[i]}

    def hold(self, i):
        change = payouts.release_payouts if self.held[i] else payouts.hold_payouts
        change(shop=self.shops[i], by=self.staff, reason="generated")
        self.held[i] = not self.held[i]


def check_books(world: World):
    # Every transaction balances, per currency.
    unbalanced = (
        LedgerEntry.objects.values("transaction_id", "currency")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
    )
    assert list(unbalanced) == []

    # Cached balances are the sum of entries; all balances sum to zero per currency.
    totals = defaultdict(int)
    for acct in LedgerAccount.objects.all():
        assert acct.balance_amount == ledger.balance(acct), acct
        totals[acct.currency] += acct.balance_amount
    assert all(t == 0 for t in totals.values()), dict(totals)

    def balance(kind, currency, shop=None):
        acct = LedgerAccount.objects.filter(kind=kind, currency=currency, shop=shop).first()
        return acct.balance_amount if acct else 0

    orders = list(Order.objects.filter(pk__in=[o.pk for o in world.orders]))
    paid_payouts = Payout.objects.filter(status=Payout.Status.PAID)
    for currency in set(SHOP_CURRENCIES):
        mine = [o for o in orders if o.currency == currency]
        money_in = sum(o.total_amount - o.refunded_amount for o in mine)
        revenue = sum(o.fee_amount - accounting.fee_refunded(o, o.refunded_amount) for o in mine)
        paid_out = paid_payouts.filter(currency=currency).aggregate(t=Sum("amount"))["t"] or 0
        sellers = sum(
            sum(accounting.shop_balances(s, currency)[k] for k in ("pending", "withdrawable",
                                                                  "in_transit"))
            for s in world.shops
        )  # fmt: skip
        assert -balance(Kind.BUYER_CLEARING, currency) == money_in
        assert balance(Kind.PLATFORM_REVENUE, currency) == revenue
        assert balance(Kind.PAID_OUT, currency) == paid_out
        assert money_in == paid_out + revenue + sellers

    for shop in world.shops:
        c = shop.currency
        figures = accounting.shop_balances(shop, c)
        shop_orders = [o for o in orders if o.shop_id == shop.pk]
        unreleased = [o for o in shop_orders if o.released_at is None]
        assert figures["pending"] == sum(accounting.seller_net(o) for o in unreleased)
        unsent = Payout.objects.filter(shop=shop, status__in=payouts.UNSENT_STATUSES)
        assert figures["in_transit"] == (unsent.aggregate(t=Sum("amount"))["t"] or 0)
        # What the seller earned net of refunds = what was paid to them + what they hold.
        shop_paid = paid_payouts.filter(shop=shop).aggregate(t=Sum("amount"))["t"] or 0
        assert sum(accounting.seller_net(o) for o in shop_orders) == shop_paid + figures["balance"]
        # Never paid (or sending) more than was ever released to them.
        released = (
            LedgerEntry.objects.filter(
                transaction__kind="release",
                account__kind=Kind.SELLER_AVAILABLE,
                account__shop=shop,
            ).aggregate(t=Sum("amount"))["t"]
            or 0
        )
        sent_or_sending = shop_paid + figures["in_transit"]
        assert sent_or_sending <= released

    for payout in Payout.objects.filter(pk__in=world.withdrawable_when_paid):
        assert 0 < payout.amount <= world.withdrawable_when_paid[payout.pk]
    # Stripe made exactly one transfer per paid payout, none for anything else.
    assert Payout.objects.filter(stripe_transfer_id__isnull=False).count() == len(
        world.fake.transfers
    )


@pytest.fixture
def cast(fake_connect):
    """Who takes part, made once for all examples: staff, a buyer, the shops and their
    connected accounts."""
    shops = [ShopFactory(currency=c) for c in SHOP_CURRENCIES]
    destinations = [
        PayoutAccountFactory(shop=s, stripe_account_id=f"acct_1Inv{i}{s.pk}").stripe_account_id
        for i, s in enumerate(shops)
    ]
    return UserFactory(is_staff=True), UserFactory(), shops, destinations


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations, refused=st.sets(shop_index))
def test_any_history_of_sales_refunds_releases_and_payouts_keeps_the_books(
    ops, refused, fake_connect, cast, settings
):
    settings.PAYOUT_MAX_ATTEMPTS = 2
    fake_connect.reset()
    with transaction.atomic():  # each example rolls back, so the next one starts empty
        world = World(fake_connect, cast)
        for i in refused:
            world.stripe_refuses(i)
        for op in ops:
            world.apply(op)
        # Then everything is delivered, the hold passes and payouts run until settled.
        for pick in range(len(world.orders)):
            world.deliver(pick)
        world.days(30)
        world.payout_run()
        world.payout_run()
        check_books(world)
        transaction.set_rollback(True)
