"""Never oversold: many buyers at once, real PostgreSQL row semantics, real threads."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from orders.checkout.services import LineRequest, start_checkout
from orders.errors import SoldOut
from orders.ledger.models import LedgerAccount
from orders.models import Checkout, Order, OrderItem
from orders.payments import intents, settlement
from shopfeed.accounts.tests.factories import UserFactory
from shops.models import Variant
from shops.tests.factories import VariantFactory

from .factories import ADDRESS
from .payment_helpers import pay


def _race(buyers, lines_for):
    barrier = threading.Barrier(len(buyers))

    def attempt(buyer):
        try:
            barrier.wait()
            return start_checkout(buyer=buyer, lines=lines_for(buyer), address=ADDRESS)
        except SoldOut:
            return "sold out"
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(buyers)) as pool:
        return list(pool.map(attempt, buyers))


def _pay_and_settle_at_once(checkouts):
    """Every winner pays at localstripe, then all the settlements run at the same time."""
    for checkout in checkouts:
        pay(intents.ensure_payment_intent(checkout=checkout).payment_intent_id)
    barrier = threading.Barrier(len(checkouts))

    def settle(checkout):
        try:
            barrier.wait()
            return settlement.settle(checkout_id=checkout.pk).status
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(checkouts)) as pool:
        return list(pool.map(settle, checkouts))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_buyers_for_the_last_ten_units_get_exactly_ten_paid_orders(localstripe):
    variant = VariantFactory(quantity=10, price_amount=2500)
    buyers = [UserFactory() for _ in range(50)]

    results = _race(buyers, lambda b: [LineRequest(variant.pk, 1)])

    assert results.count("sold out") == 40
    assert len([r for r in results if r != "sold out"]) == 10
    variant.refresh_from_db()
    assert variant.quantity == 0
    assert OrderItem.objects.filter(variant=variant).count() == 10
    assert Order.objects.filter(total_amount=2500).count() == 10

    won = [r for r in results if r != "sold out"]
    assert _pay_and_settle_at_once(won) == [Checkout.Status.PAID] * 10
    assert Order.objects.filter(status=Order.Status.PAID).count() == 10
    variant.refresh_from_db()
    assert variant.quantity == 0
    variant.product.refresh_from_db()
    assert variant.product.sold_count == 10
    clearing = LedgerAccount.objects.get(kind=LedgerAccount.Kind.BUYER_CLEARING, currency="USD")
    assert clearing.balance_amount == -25_000


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_cart_spanning_two_shops_is_all_or_nothing_under_contention(localstripe):
    a = VariantFactory(quantity=10, price_amount=1000)
    b = VariantFactory(quantity=5, price_amount=700)  # another shop, the scarcer item
    assert a.shop_id != b.shop_id
    buyers = [UserFactory() for _ in range(30)]

    results = _race(buyers, lambda buyer: [LineRequest(a.pk, 1), LineRequest(b.pk, 1)])

    won = [r for r in results if r != "sold out"]
    assert len(won) == 5
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.quantity, b.quantity) == (5, 0)  # nobody got half a cart
    for checkout in won:
        assert checkout.orders.count() == 2  # one order per shop, one payment
        assert checkout.total_amount == 1700
    assert Variant.objects.filter(quantity__lt=0).count() == 0

    assert _pay_and_settle_at_once(won) == [Checkout.Status.PAID] * 5
    assert Order.objects.filter(status=Order.Status.PAID).count() == 10  # 5 carts x 2 shops
    assert Order.objects.exclude(status=Order.Status.PAID).count() == 0
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.quantity, b.quantity) == (5, 0)
