"""Selling in the room: pinning, flash deals, buying at the deal price, giving units back,
"just bought" notices and the creator's summary."""

from datetime import timedelta

import pytest
from django.utils import timezone

from live.models import ChatMessage, FlashDeal, LiveDealClaim, LiveSession, SessionViewer
from live.selling import purchases
from live.selling import services as selling
from live.stream import services as sessions
from live.stream.summary import session_summary
from orders.checkout.services import release_checkout
from orders.errors import SoldOut
from orders.models import Checkout, Order, SaleSource
from orders.payments import intents, reconcile, settlement
from orders.tests.factories import ADDRESS, CheckoutFactory, pay_checkout
from orders.tests.payment_helpers import pay
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.errors import NotAllowed, ShopFeedError
from shops.models import Product, Variant
from shops.tests.factories import VariantFactory

from .factories import PaidLiveCheckoutFactory
from .selling_support import (
    capture_room_events,
    lapse,
    live_session,
    product_with_variant,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def room_events(monkeypatch):
    return capture_room_events(monkeypatch)


@pytest.fixture
def stock(shop):
    """A lineup product: one variant at 20.00 with 50 in stock, a dearer one with 5."""
    product, variant = product_with_variant(shop, price_amount=2000, quantity=50)
    VariantFactory(product=product, price_amount=2600, quantity=5)
    return product, variant


@pytest.fixture
def session(shop, stock):
    return live_session(shop, stock[0])


def start(session, product, creator, *, price=1200, quantity=10, seconds=60):
    return selling.start_deal(
        session=session,
        product=product,
        price_amount=price,
        quantity=quantity,
        duration_seconds=seconds,
        by=creator,
    )


# --- pinning ---------------------------------------------------------------------------------


def test_host_pins_a_lineup_product_and_the_room_gets_its_card(
    session, stock, creator, room_events, django_capture_on_commit_callbacks
):
    product, variant = stock
    with django_capture_on_commit_callbacks(execute=True):
        selling.pin_product(session=session, product=product, by=creator)

    session.refresh_from_db()
    assert session.pinned_product == product
    [pin] = room_events.of(session.pk, "pin")
    card = pin["product"]
    assert card["id"] == product.pk
    assert card["title"] == "Glow serum"
    assert (card["min_price_amount"], card["max_price_amount"]) == (2000, 2600)
    assert {"id": variant.pk, "price_amount": 2000, "quantity": 50}.items() <= card["variants"][
        0
    ].items()


def test_a_product_outside_the_lineup_cannot_be_pinned(session, shop, creator, room_events):
    elsewhere, _ = product_with_variant(shop, title="Not tonight")
    with pytest.raises(ShopFeedError) as exc:
        selling.pin_product(session=session, product=elsewhere, by=creator)
    assert exc.value.code == "not_in_lineup"
    session.refresh_from_db()
    assert session.pinned_product is None


def test_a_draft_product_cannot_be_pinned(session, stock, creator):
    Product.objects.filter(pk=stock[0].pk).update(status=Product.Status.DRAFT)
    stock[0].refresh_from_db()
    with pytest.raises(ShopFeedError) as exc:
        selling.pin_product(session=session, product=stock[0], by=creator)
    assert exc.value.code == "product_unavailable"


def test_an_ended_session_cannot_pin(session, stock, creator):
    LiveSession.objects.filter(pk=session.pk).update(status=LiveSession.Status.ENDED)
    with pytest.raises(ShopFeedError) as exc:
        selling.pin_product(session=session, product=stock[0], by=creator)
    assert exc.value.code == "session_ended"


def test_a_scheduled_session_may_pin_ahead_of_going_live(shop, stock, creator):
    session = live_session(shop, stock[0], status=LiveSession.Status.SCHEDULED)
    selling.pin_product(session=session, product=stock[0], by=creator)
    session.refresh_from_db()
    assert session.pinned_product_id == stock[0].pk


def test_unpin_clears_the_pinned_product_and_tells_the_room(
    session, stock, creator, room_events, django_capture_on_commit_callbacks
):
    selling.pin_product(session=session, product=stock[0], by=creator)
    with django_capture_on_commit_callbacks(execute=True):
        selling.unpin(session=session, by=creator)
    session.refresh_from_db()
    assert session.pinned_product is None
    assert room_events.types(session.pk) == ["unpin"]


def test_another_user_cannot_pin_even_by_calling_the_service(session, stock, shopper):
    with pytest.raises(NotAllowed):
        selling.pin_product(session=session, product=stock[0], by=shopper)
    session.refresh_from_db()
    assert session.pinned_product is None


# --- starting and ending deals ----------------------------------------------------------------


def test_host_starts_a_deal_and_the_room_hears_its_terms(
    session, stock, creator, room_events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        deal = start(session, stock[0], creator, price=1200, quantity=10, seconds=90)

    assert (deal.deal_price_amount, deal.quantity, deal.sold, deal.currency) == (
        1200,
        10,
        0,
        "USD",
    )
    assert timedelta(seconds=89) < deal.ends_at - timezone.now() <= timedelta(seconds=90)
    [started] = room_events.of(session.pk, "deal.started")
    assert started["deal"] == {
        "id": deal.pk,
        "product_id": stock[0].pk,
        "deal_price_amount": 1200,
        "currency": "USD",
        "quantity": 10,
        "remaining": 10,
        "ends_at": deal.ends_at.isoformat(),
    }


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("price", 0, "bad_deal_price"),
        ("price", 2000, "bad_deal_price"),  # not below the lowest price
        ("price", 2500, "bad_deal_price"),
        ("price", "1200", "bad_payload"),
        ("price", 12.5, "bad_payload"),
        ("quantity", 0, "bad_deal_quantity"),
        ("quantity", 56, "bad_deal_quantity"),  # 55 in stock over both variants
        ("quantity", True, "bad_payload"),
        ("seconds", 9, "bad_deal_duration"),
        ("seconds", 3601, "bad_deal_duration"),
    ],
)
def test_a_deal_with_bad_terms_is_refused_and_nothing_is_written(
    session, stock, creator, field, value, code
):
    terms = {"price": 1200, "quantity": 10, "seconds": 60, field: value}
    with pytest.raises(ShopFeedError) as exc:
        start(session, stock[0], creator, **terms)
    assert exc.value.code == code
    assert exc.value.message
    assert not FlashDeal.objects.exists()


def test_the_whole_stock_may_go_on_a_deal_for_the_longest_time(session, stock, creator):
    deal = start(session, stock[0], creator, price=1999, quantity=55, seconds=3600)
    assert (deal.quantity, deal.deal_price_amount) == (55, 1999)


def test_only_one_deal_runs_at_a_time(session, stock, creator):
    start(session, stock[0], creator)
    with pytest.raises(ShopFeedError) as exc:
        start(session, stock[0], creator)
    assert exc.value.code == "deal_running"
    assert FlashDeal.objects.count() == 1


def test_a_deal_past_its_end_does_not_block_the_next_and_is_announced_ended(
    session, stock, creator, room_events, django_capture_on_commit_callbacks
):
    first = start(session, stock[0], creator)
    lapse(first)
    with django_capture_on_commit_callbacks(execute=True):
        second = start(session, stock[0], creator, price=1500)
    first.refresh_from_db()
    assert first.status == FlashDeal.Status.ENDED
    assert second.status == FlashDeal.Status.ACTIVE
    assert room_events.types(session.pk) == ["deal.ended", "deal.started"]


def test_deals_run_only_while_the_session_is_live(shop, stock, creator):
    session = live_session(shop, stock[0], status=LiveSession.Status.SCHEDULED)
    with pytest.raises(ShopFeedError) as exc:
        start(session, stock[0], creator)
    assert exc.value.code == "session_not_live"


def test_host_ends_a_deal_and_ending_it_again_changes_nothing(
    session, stock, creator, room_events, django_capture_on_commit_callbacks
):
    deal = start(session, stock[0], creator)
    with django_capture_on_commit_callbacks(execute=True):
        selling.end_deal(deal=deal, by=creator)
        selling.end_deal(deal=deal, by=creator)
    deal.refresh_from_db()
    assert deal.status == FlashDeal.Status.ENDED
    assert room_events.of(session.pk, "deal.ended") == [{"deal_id": deal.pk}]


def test_the_clock_task_ends_lapsed_deals_and_tells_the_room(
    session, stock, creator, room_events, django_capture_on_commit_callbacks
):
    lapsed = start(session, stock[0], creator)
    lapse(lapsed)
    from live.tasks import end_expired_deals_task

    with django_capture_on_commit_callbacks(execute=True):
        assert end_expired_deals_task() == 1
        assert end_expired_deals_task() == 0
    lapsed.refresh_from_db()
    assert lapsed.status == FlashDeal.Status.ENDED
    assert room_events.of(session.pk, "deal.ended") == [{"deal_id": lapsed.pk}]


def test_ending_the_session_ends_its_running_deal(
    session, stock, creator, room_events, django_capture_on_commit_callbacks
):
    deal = start(session, stock[0], creator)
    with django_capture_on_commit_callbacks(execute=True):
        sessions.end_session(session=session, by=creator)
    deal.refresh_from_db()
    session.refresh_from_db()
    assert (session.status, deal.status) == (LiveSession.Status.ENDED, FlashDeal.Status.ENDED)
    assert room_events.types(session.pk) == ["deal.ended", "session.ended"]


# --- claiming -------------------------------------------------------------------------------


def test_claims_never_exceed_the_deal_quantity(session, stock, creator):
    deal = start(session, stock[0], creator, quantity=3)
    assert selling.claim_deal(deal=deal, quantity=2) == 1200
    with pytest.raises(SoldOut, match="Only 1 left"):
        selling.claim_deal(deal=deal, quantity=2)
    assert selling.claim_deal(deal=deal, quantity=1) == 1200
    with pytest.raises(SoldOut, match="sold out"):
        selling.claim_deal(deal=deal, quantity=1)
    deal.refresh_from_db()
    assert deal.sold == 3


def test_a_deal_past_its_end_by_the_clock_refuses_claims_before_any_task_runs(
    session, stock, creator
):
    deal = start(session, stock[0], creator)
    lapse(deal)
    with pytest.raises(selling.DealEnded):
        selling.claim_deal(deal=deal, quantity=1)
    deal.refresh_from_db()
    assert (deal.sold, deal.status) == (0, FlashDeal.Status.ACTIVE)


# --- buying from the room --------------------------------------------------------------------


def test_buying_during_a_deal_charges_the_deal_price_and_credits_the_session(
    session, stock, creator, shopper, room_events, django_capture_on_commit_callbacks
):
    product, variant = stock
    deal = start(session, product, creator, price=1200, quantity=10)
    with django_capture_on_commit_callbacks(execute=True):
        checkout = selling.live_buy_now(
            session=session, buyer=shopper, variant=variant, quantity=2, address=ADDRESS
        )

    order = checkout.orders.get()
    item = order.items.get()
    assert (order.source, order.source_ref) == (SaleSource.LIVE, str(session.pk))
    assert (item.unit_price_amount, item.quantity, order.total_amount) == (1200, 2, 2400)
    assert checkout.total_amount == 2400
    assert checkout.status == Checkout.Status.OPEN
    deal.refresh_from_db()
    variant.refresh_from_db()
    assert (deal.sold, variant.quantity) == (2, 48)
    assert LiveDealClaim.objects.get(checkout=checkout).quantity == 2
    assert room_events.of(session.pk, "deal.stock") == [{"deal_id": deal.pk, "remaining": 8}]


def test_the_deal_price_covers_every_variant_of_the_product(session, stock, creator, shopper):
    deal = start(session, stock[0], creator, price=1200)
    dearer = Variant.objects.get(product=stock[0], price_amount=2600)
    checkout = selling.live_buy_now(
        session=session, buyer=shopper, variant=dearer, quantity=1, address=ADDRESS
    )
    assert checkout.total_amount == 1200
    deal.refresh_from_db()
    assert deal.sold == 1


def test_buying_without_a_deal_charges_the_regular_price_from_the_session(session, stock, shopper):
    checkout = selling.live_buy_now(
        session=session, buyer=shopper, variant=stock[1], quantity=1, address=ADDRESS
    )
    order = checkout.orders.get()
    assert (order.total_amount, order.source, order.source_ref) == (2000, "live", str(session.pk))
    assert not LiveDealClaim.objects.exists()


def test_a_buyer_who_saw_a_deal_that_has_ended_is_told_rather_than_charged_more(
    session, stock, creator, shopper
):
    deal = start(session, stock[0], creator)
    lapse(deal)
    with pytest.raises(selling.DealEnded):
        selling.live_buy_now(
            session=session,
            buyer=shopper,
            variant=stock[1],
            quantity=1,
            address=ADDRESS,
            deal_id=str(deal.pk),
        )
    assert not Checkout.objects.exists()
    # Without naming the deal the buyer gets the regular price.
    checkout = selling.live_buy_now(
        session=session, buyer=shopper, variant=stock[1], quantity=1, address=ADDRESS
    )
    assert checkout.total_amount == 2000


def test_a_sold_out_deal_sells_nothing_at_the_regular_price(session, stock, creator, shopper):
    start(session, stock[0], creator, quantity=1)
    selling.live_buy_now(
        session=session, buyer=UserFactory(), variant=stock[1], quantity=1, address=ADDRESS
    )
    with pytest.raises(SoldOut):
        selling.live_buy_now(
            session=session, buyer=shopper, variant=stock[1], quantity=1, address=ADDRESS
        )
    assert Order.objects.count() == 1


def test_when_the_stock_reservation_fails_the_deal_claim_is_rolled_back_too(
    session, stock, creator, shopper
):
    product, variant = stock
    deal = start(session, product, creator, quantity=10)
    Variant.objects.filter(pk=variant.pk).update(quantity=1)  # sold elsewhere meanwhile
    with pytest.raises(SoldOut):
        selling.live_buy_now(
            session=session,
            buyer=shopper,
            variant=Variant.objects.get(pk=variant.pk),
            quantity=2,
            address=ADDRESS,
        )
    deal.refresh_from_db()
    variant.refresh_from_db()
    assert (deal.sold, variant.quantity) == (0, 1)
    assert not Checkout.objects.exists()
    assert not LiveDealClaim.objects.exists()


def test_a_product_outside_the_lineup_cannot_be_bought_from_the_room(session, shop, shopper):
    _, other = product_with_variant(shop, title="Backstage only")
    with pytest.raises(ShopFeedError) as exc:
        selling.live_buy_now(
            session=session, buyer=shopper, variant=other, quantity=1, address=ADDRESS
        )
    assert exc.value.code == "not_in_lineup"


def test_nothing_is_sold_from_an_ended_session(session, stock, shopper):
    LiveSession.objects.filter(pk=session.pk).update(status=LiveSession.Status.ENDED)
    with pytest.raises(ShopFeedError) as exc:
        selling.live_buy_now(
            session=session, buyer=shopper, variant=stock[1], quantity=1, address=ADDRESS
        )
    assert exc.value.code == "session_ended"
    assert not Checkout.objects.exists()


# --- giving deal units back ------------------------------------------------------------------


def test_an_expired_checkout_gives_its_deal_units_back(
    session, stock, creator, shopper, room_events, django_capture_on_commit_callbacks
):
    product, variant = stock
    deal = start(session, product, creator, quantity=3)
    checkout = selling.live_buy_now(
        session=session, buyer=shopper, variant=variant, quantity=2, address=ADDRESS
    )

    later = timezone.now() + timedelta(hours=2)
    with django_capture_on_commit_callbacks(execute=True):
        assert reconcile.release_expired_checkouts(now=later) == 1

    deal.refresh_from_db()
    variant.refresh_from_db()
    assert (deal.sold, variant.quantity) == (0, 50)
    assert LiveDealClaim.objects.get(checkout=checkout).released_at is not None
    assert room_events.of(session.pk, "deal.stock")[-1] == {"deal_id": deal.pk, "remaining": 3}
    # The units are for sale again at the deal price.
    again = selling.live_buy_now(
        session=session, buyer=UserFactory(), variant=variant, quantity=3, address=ADDRESS
    )
    assert again.total_amount == 3 * 1200


def test_a_lost_release_signal_is_caught_up_by_the_clock_task_once(
    session, stock, creator, shopper
):
    deal = start(session, stock[0], creator, quantity=3)
    checkout = selling.live_buy_now(
        session=session, buyer=shopper, variant=stock[1], quantity=1, address=ADDRESS
    )
    # Released without running its after-commit callbacks: the signal never reaches live.
    release_checkout(checkout_id=checkout.pk, status=Checkout.Status.FAILED)
    deal.refresh_from_db()
    assert deal.sold == 1

    assert selling.release_stale_deal_claims() == 1
    assert selling.release_stale_deal_claims() == 0
    assert selling.release_deal_claim(checkout_id=checkout.pk) == 0
    deal.refresh_from_db()
    assert deal.sold == 0


def test_a_paid_checkout_keeps_its_deal_units(localstripe, session, stock, creator, shopper):
    deal = start(session, stock[0], creator, quantity=3)
    checkout = PaidLiveCheckoutFactory(session=session, buyer=shopper, variant=stock[1])
    assert selling.release_deal_claim(checkout_id=checkout.pk) == 0
    assert selling.release_stale_deal_claims() == 0
    deal.refresh_from_db()
    assert deal.sold == 1


def test_a_released_checkout_paid_late_takes_its_deal_units_again(
    localstripe, session, stock, creator, shopper, django_capture_on_commit_callbacks
):
    deal = start(session, stock[0], creator, quantity=3)
    checkout = selling.live_buy_now(
        session=session, buyer=shopper, variant=stock[1], quantity=1, address=ADDRESS
    )
    # The buyer opened the payment page (its PaymentIntent exists), then let it expire.
    intents.ensure_payment_intent(checkout=checkout)
    with django_capture_on_commit_callbacks(execute=True):
        release_checkout(checkout_id=checkout.pk, status=Checkout.Status.EXPIRED)
    deal.refresh_from_db()
    assert deal.sold == 0

    # orders reserves the stock again for a payment that lands after the release, and tells
    # live (checkout_paid) once that is committed.
    pay_checkout(checkout)

    deal.refresh_from_db()
    assert deal.sold == 1
    assert LiveDealClaim.objects.get(checkout=checkout).released_at is None


# --- "just bought" ---------------------------------------------------------------------------


@pytest.fixture
def purchase_cache(settings, monkeypatch):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "live-purchase-tests",
        }
    }
    from django.core.cache import cache

    cache.clear()
    scheduled = []
    monkeypatch.setattr(
        "live.tasks.flush_purchases_task.apply_async",
        lambda args, countdown: scheduled.append((args, countdown)),
    )
    monkeypatch.setattr("live.selling.purchases._clock", lambda: 1_800_000_000.4)
    return scheduled


def test_purchases_in_one_second_make_one_batched_purchase_event(
    localstripe,
    session,
    stock,
    shop,
    purchase_cache,
    room_events,
    django_capture_on_commit_callbacks,
):
    lipstick, lipstick_variant = product_with_variant(shop, title="Velvet lipstick")
    session.lineup.create(product=lipstick, position=1)
    buyers = [UserFactory(handle=h) for h in ("amelia", "bruno", "amelia2")]
    variants = [stock[1], lipstick_variant, stock[1]]
    for buyer, variant in zip(buyers, variants, strict=True):
        PaidLiveCheckoutFactory(session=session, buyer=buyer, variant=variant)

    # One flush scheduled for the end of that second, whatever the number of purchases.
    assert purchase_cache == [((session.pk, 1_800_000_000), pytest.approx(0.6))]
    with django_capture_on_commit_callbacks(execute=True):
        purchases.flush_purchases(session_id=session.pk, bucket=1_800_000_000)
        assert purchases.flush_purchases(session_id=session.pk, bucket=1_800_000_000) is None
    assert room_events.of(session.pk, "purchase") == [
        {
            "buyers": ["am***", "br***"],
            "product_titles": ["Glow serum", "Velvet lipstick"],
            "count": 3,
        }
    ]


def test_a_live_checkout_paid_through_stripe_queues_its_purchase_notice(
    localstripe, session, stock, shopper, purchase_cache, django_capture_on_commit_callbacks
):
    checkout = selling.live_buy_now(
        session=session, buyer=shopper, variant=stock[1], quantity=1, address=ADDRESS
    )
    pay(intents.ensure_payment_intent(checkout=checkout).payment_intent_id)
    with django_capture_on_commit_callbacks(execute=True):
        assert settlement.settle(checkout_id=checkout.pk).status == Checkout.Status.PAID

    assert purchase_cache == [((session.pk, 1_800_000_000), pytest.approx(0.6))]


def test_orders_from_elsewhere_make_no_purchase_notice(purchase_cache, shopper):
    checkout = CheckoutFactory(buyer=shopper)  # from a product page
    assert checkout.orders.get().source == SaleSource.PRODUCT_PAGE
    assert purchases.record_purchases(checkout_id=checkout.pk) == 0
    assert purchase_cache == []


# --- notices ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", None, 42, "x" * 201])
def test_a_bad_notice_is_refused(session, creator, room_events, text):
    with pytest.raises(ShopFeedError) as exc:
        selling.post_notice(session=session, text=text, by=creator)
    assert exc.value.code == "bad_payload"
    assert room_events.frames == []


# --- the summary -----------------------------------------------------------------------------


def test_the_summary_counts_paid_orders_revenue_chat_viewers_and_the_best_seller(
    localstripe, session, stock, shop, creator
):
    product, variant = stock
    mug, mug_variant = product_with_variant(shop, price_amount=900, title="Mug")
    session.lineup.create(product=mug, position=1)
    start(session, product, creator, price=1200, quantity=10)

    PaidLiveCheckoutFactory(session=session, variant=variant, quantity=2)  # 2 x 12.00 (deal)
    PaidLiveCheckoutFactory(session=session, variant=mug_variant, quantity=1)  # 9.00
    selling.live_buy_now(  # never paid: not counted
        session=session, buyer=UserFactory(), variant=mug_variant, quantity=3, address=ADDRESS
    )
    other = live_session(shop, mug, title="Another night")
    PaidLiveCheckoutFactory(session=other, variant=mug_variant, quantity=5)
    ChatMessage.objects.create(session=session, user=creator, text="hi all")
    ChatMessage.objects.create(
        session=session, user=creator, text="spam", deleted_at=timezone.now()
    )
    LiveSession.objects.filter(pk=session.pk).update(peak_viewers=7, total_viewers=2)
    for key in ("u1", "u2", "anon-x"):
        SessionViewer.objects.create(session=session, viewer_key=key)
    session.refresh_from_db()

    s = session_summary(session=session)

    assert (s.peak_viewers, s.total_viewers) == (7, 3)
    assert (s.chat_messages, s.chat_messages_removed) == (1, 1)
    assert (s.orders, s.units, s.revenue_amount, s.currency) == (2, 3, 3300, "USD")
    assert (s.best_seller.product_id, s.best_seller.title, s.best_seller.units) == (
        product.pk,
        "Glow serum",
        2,
    )


def test_the_summary_of_a_session_without_sales_is_empty_not_an_error(session):
    s = session_summary(session=session)
    assert (s.orders, s.revenue_amount, s.best_seller) == (0, 0, None)
