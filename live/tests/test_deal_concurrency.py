"""A flash deal under a crowd: real threads, real PostgreSQL row locks, no mocks."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from live.models import FlashDeal, LiveDealClaim
from live.selling import services as selling
from orders.errors import SoldOut
from orders.flash import services as flash
from orders.flash import writer
from orders.models import Checkout, Order, OrderItem
from orders.tests.factories import ADDRESS
from shopfeed.accounts.tests.factories import UserFactory
from shops.models import Variant

from .selling_support import live_session, product_with_variant

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _rush(session, variant, buyers):
    """Every buyer taps "Buy now" at the same instant; returns checkouts or "sold out"."""
    barrier = threading.Barrier(len(buyers))

    def attempt(buyer):
        try:
            barrier.wait()
            return selling.live_buy_now(
                session=session, buyer=buyer, variant=variant, quantity=1, address=ADDRESS
            )
        except SoldOut:
            return "sold out"
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(buyers)) as pool:
        results = list(pool.map(attempt, buyers))
    # A deal takes the flash path: a buyer whose reservation another request was writing gets
    # the reservation (their page waits for the checkout); the writer finishes what is left.
    if flash.enabled():
        writer.drain(consumer="test-after-rush")
    return [_placed(r) for r in results]


def _placed(result):
    if not isinstance(result, flash.Reservation):
        return result
    try:
        return flash.placed(result)
    except SoldOut:
        return "sold out"


def test_thirty_buyers_for_a_ten_unit_deal_get_exactly_ten_orders_at_the_deal_price(shop):
    product, variant = product_with_variant(shop, price_amount=2500, quantity=50)
    session = live_session(shop, product)
    deal = selling.start_deal(
        session=session,
        product=product,
        price_amount=999,
        quantity=10,
        duration_seconds=120,
        by=shop.owner,
    )
    buyers = [UserFactory() for _ in range(30)]

    results = _rush(session, variant, buyers)

    won = [r for r in results if isinstance(r, Checkout)]
    assert len(won) == 10
    assert results.count("sold out") == 20
    deal.refresh_from_db()
    variant.refresh_from_db()
    assert (deal.sold, variant.quantity) == (10, 40)
    assert Order.objects.count() == 10
    assert Order.objects.filter(source="live", source_ref=str(session.pk)).count() == 10
    assert list(OrderItem.objects.values_list("unit_price_amount", flat=True)) == [999] * 10
    assert sorted(c.total_amount for c in won) == [999] * 10
    assert LiveDealClaim.objects.filter(deal=deal).count() == 10
    assert len({c.buyer_id for c in won}) == 10


def test_a_deal_bigger_than_the_stock_left_never_sells_below_zero(shop):
    product, variant = product_with_variant(shop, price_amount=2500, quantity=20)
    session = live_session(shop, product)
    deal = selling.start_deal(
        session=session,
        product=product,
        price_amount=999,
        quantity=20,
        duration_seconds=120,
        by=shop.owner,
    )
    Variant.objects.filter(pk=variant.pk).update(quantity=6)  # sold elsewhere since the start
    buyers = [UserFactory() for _ in range(30)]

    results = _rush(session, variant, buyers)

    assert len([r for r in results if isinstance(r, Checkout)]) == 6
    deal.refresh_from_db()
    variant.refresh_from_db()
    assert variant.quantity == 0
    # The losers' deal claims rolled back with their failed reservations.
    assert deal.sold == 6 == LiveDealClaim.objects.count()
    assert Order.objects.count() == 6
    assert deal.status == FlashDeal.Status.ACTIVE
