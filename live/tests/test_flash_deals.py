"""Live flash deals on the flash-sale path (Redis reservations, the batch writer), with real
threads on PostgreSQL and Redis: a deal never sells more than its quantity, ending it mid-sale
refuses new buyers at once, honours the reservations already taken and gives back the rest."""

import pytest

from live.models import FlashDeal, LiveDealClaim
from live.selling import services as selling
from orders.flash import store, writer
from orders.models import Checkout, OrderItem
from orders.tests.factories import ADDRESS
from orders.tests.flash_support import WriterThread, buyers_for, race
from shopfeed.testing import wait_until

from .selling_support import capture_room_events, live_session, product_with_variant

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def deal_setup(flash_redis, shop, creator, monkeypatch):
    events = capture_room_events(monkeypatch)
    product, variant = product_with_variant(shop, price_amount=2000, quantity=100)
    session = live_session(shop, product)
    deal = selling.start_deal(
        session=session,
        product=product,
        price_amount=1200,
        quantity=30,
        duration_seconds=600,
        by=creator,
    )
    return session, variant, deal, events


def _buy(session, variant, deal):
    def buy(buyer):
        return selling.live_buy_now(
            session=session, buyer=buyer, variant=variant, quantity=1, address=ADDRESS,
            deal_id=deal.pk,
        )  # fmt: skip

    return buy


def test_a_deal_puts_its_variants_on_the_flash_path(deal_setup):
    _, variant, _, _ = deal_setup
    variant.refresh_from_db()
    assert variant.flash_sale


def test_forty_buyers_for_a_thirty_unit_deal_get_thirty_deal_price_checkouts(deal_setup):
    session, variant, deal, events = deal_setup

    with WriterThread():
        results = race(buyers_for(40), buy=_buy(session, variant, deal))
        wait_until(lambda: store.backlog() == 0, what="the writer wrote every reservation")

    assert results.count("sold_out") == 10
    deal.refresh_from_db()
    assert deal.sold == 30
    assert LiveDealClaim.objects.filter(deal=deal).count() == 30
    assert Checkout.objects.filter(total_amount=1200).count() == 30
    assert set(OrderItem.objects.values_list("unit_price_amount", flat=True)) == {1200}
    variant.refresh_from_db()
    assert variant.quantity == 70
    assert events.of(session.pk, "deal.stock")[-1]["remaining"] == 0


def test_a_deal_ended_mid_sale_keeps_what_was_taken_and_gives_back_the_rest(deal_setup, creator):
    session, variant, deal, events = deal_setup
    buyers = buyers_for(30)
    # Ten reserve while no writer runs: their reservations are still in the stream at the end.
    taken = race(buyers[:10], buy=_buy(session, variant, deal))
    assert store.backlog() == 10

    selling.end_deal(deal=deal, by=creator)
    late = race(buyers[10:], buy=_buy(session, variant, deal))
    writer.drain(consumer="test")

    assert late == ["deal_ended"] * 20  # told at once, nothing reserved
    assert len([r for r in taken if not isinstance(r, str)]) == 10
    deal.refresh_from_db()
    assert (deal.status, deal.sold) == (FlashDeal.Status.ENDED, 10)  # taken before the end
    assert Checkout.objects.filter(total_amount=1200).count() == 10
    variant.refresh_from_db()
    assert variant.quantity == 90
    # The 20 deal units nobody took were never taken from the stock: all 90 can be bought.
    assert int(store.client().get(store.k("stock", variant.pk))) == 90
    assert events.of(session.pk, "deal.ended") == [{"deal_id": deal.pk}]


def test_a_buyer_may_hold_only_so_many_deal_units(deal_setup, settings):
    settings.FLASH_LIMIT_PER_BUYER = 2
    session, variant, deal, _ = deal_setup
    (buyer,) = buyers_for(1)

    results = race([buyer] * 6, buy=_buy(session, variant, deal))
    writer.drain(consumer="test")

    assert results.count("flash_limit") == 4
    deal.refresh_from_db()
    assert deal.sold == 2
    assert Checkout.objects.filter(buyer=buyer).count() == 2


def test_an_unpaid_deal_checkout_gives_its_units_back_to_the_deal_and_the_stock(deal_setup):
    from orders.checkout.services import release_checkout

    session, variant, deal, _ = deal_setup
    (buyer,) = buyers_for(1)
    _buy(session, variant, deal)(buyer)
    writer.drain(consumer="test")
    checkout = Checkout.objects.get(buyer=buyer)
    r = store.client()
    assert r.hget(store.k("deal", deal.pk), "left") == "29"

    assert release_checkout(checkout_id=checkout.pk)

    deal.refresh_from_db()
    variant.refresh_from_db()
    assert (deal.sold, variant.quantity) == (0, 100)
    assert r.hget(store.k("deal", deal.pk), "left") == "30"
    assert r.get(store.k("stock", variant.pk)) == "100"
