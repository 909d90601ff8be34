"""Live pages: the creator's studio, "Live now", the profile block, the live page, buying."""

import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from live.models import LineupItem, LiveSession
from live.stream import services as sessions
from orders.models import Address, Checkout, Order
from orders.tests.factories import ADDRESS as SHIPPING_ADDRESS
from orders.tests.factories import AddressFactory
from shopfeed.accounts.models import Follow
from shopfeed.accounts.tests.factories import CreatorFactory
from shops.tests.factories import ProductFactory, ShopFactory, VariantFactory

pytestmark = pytest.mark.django_db

# The address form as a buyer fills it in (the country as typed).
ADDRESS = {**SHIPPING_ADDRESS, "country": "us"}


@pytest.fixture(autouse=True)
def _memory_bus(settings):
    # The page reads the room's last event id; keep it in this process, fresh per test.
    from live.room.bus import get_bus

    settings.REDIS_URL = ""
    get_bus.cache_clear()
    yield
    get_bus.cache_clear()


def soon(minutes=60):
    return timezone.now() + timedelta(minutes=minutes)


def product(shop, title="Linen Shirt", price=3900, quantity=5, **kw):
    p = ProductFactory(shop=shop, title=title, **kw)
    VariantFactory(product=p, price_amount=price, quantity=quantity, option1="S")
    return p


def scheduled(shop, *products, title="Friday drop", minutes=60):
    return sessions.schedule_session(
        host=shop.owner,
        title=title,
        scheduled_at=soon(minutes),
        product_ids=[p.pk for p in products],
    )


def on_air(shop, *products, title="On air now"):
    session = scheduled(shop, *products, title=title)
    return sessions.go_live(session=session, by=shop.owner)


def snapshot_of(response) -> dict:
    match = re.search(
        r'<script id="live-snapshot" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    return json.loads(match.group(1))


# --- studio ---------------------------------------------------------------------------------------


def test_studio_lists_only_my_own_sessions(client, shop, other_shop):
    scheduled(shop, title="Mine")
    scheduled(other_shop, title="Theirs")
    client.force_login(shop.owner)
    body = client.get(reverse("live:studio")).content.decode()
    assert "Mine" in body
    assert "Theirs" not in body


def test_schedule_form_offers_only_my_active_products(client, shop, other_shop):
    product(shop, "Active one")
    product(shop, "Draft one", status="draft")
    product(other_shop, "Someone else's")
    client.force_login(shop.owner)
    body = client.get(reverse("live:schedule")).content.decode()
    assert "Active one" in body
    assert "Draft one" not in body
    assert "Someone else" not in body


def test_scheduling_from_the_form_creates_the_session_and_shows_the_key(client, shop):
    a, b = product(shop, "A", tab_position=1), product(shop, "B", tab_position=2)
    client.force_login(shop.owner)
    start = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        reverse("live:schedule"),
        {"title": "Sunday sale", "scheduled_at": start, "product_ids": [b.pk, a.pk]},
    )
    session = LiveSession.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("live:manage", kwargs={"pk": session.pk})
    # The lineup follows the shopping tab's order, whatever order the boxes were posted in.
    assert list(session.lineup.values_list("product_id", flat=True)) == [a.pk, b.pk]
    page = client.get(response["Location"]).content.decode()
    assert session.stream_key in page
    assert "rtmp://" in page


@pytest.mark.parametrize(
    ("data", "field_error"),
    [
        ({"title": "", "scheduled_at": "2099-01-01T10:00"}, "This field is required"),
        ({"title": "Hi", "scheduled_at": "not a date"}, "Enter a valid date/time"),
        ({"title": "Hi", "scheduled_at": "2001-01-01T10:00"}, "Pick a start time in the future"),
    ],
)
def test_a_bad_schedule_form_comes_back_with_the_error_and_saves_nothing(
    client, shop, data, field_error
):
    client.force_login(shop.owner)
    response = client.post(reverse("live:schedule"), data)
    assert response.status_code == 400
    assert field_error in response.content.decode()
    assert not LiveSession.objects.exists()


def test_a_product_of_another_shop_cannot_be_slipped_into_the_lineup(client, shop, other_shop):
    theirs = product(other_shop, "Not yours")
    client.force_login(shop.owner)
    response = client.post(
        reverse("live:schedule"),
        {"title": "Hi", "scheduled_at": "2099-01-01T10:00", "product_ids": [theirs.pk]},
    )
    assert response.status_code == 400
    assert not LiveSession.objects.exists()


def test_a_shopper_is_sent_to_open_a_shop_first(client, shopper):
    client.force_login(shopper)
    response = client.get(reverse("live:schedule"))
    assert response.status_code == 302
    assert response["Location"] == reverse("shops:dashboard")


def test_editing_the_lineup_from_the_manage_page(client, shop):
    a, b = product(shop, "A"), product(shop, "B")
    session = scheduled(shop, a)
    client.force_login(shop.owner)
    response = client.post(
        reverse("live:manage", kwargs={"pk": session.pk}),
        {"title": "Renamed", "scheduled_at": "2099-01-01T10:00", "product_ids": [a.pk, b.pk]},
    )
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.title == "Renamed"
    assert set(session.lineup.values_list("product_id", flat=True)) == {a.pk, b.pk}


# --- another creator's session --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["manage", "start", "end", "rotate-key"])
def test_another_creator_cannot_see_or_drive_my_session(client, shop, name):
    session = scheduled(shop)
    key = session.stream_key
    client.force_login(CreatorFactory())
    url = reverse(f"live:{name}", kwargs={"pk": session.pk})
    response = client.get(url) if name == "manage" else client.post(url)
    assert response.status_code == 404
    assert key not in response.content.decode()
    session.refresh_from_db()
    assert session.status == LiveSession.Status.SCHEDULED
    assert session.stream_key == key


def test_the_studio_needs_a_login(client, shop):
    session = scheduled(shop)
    response = client.get(reverse("live:manage", kwargs={"pk": session.pk}))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_host_goes_live_ends_and_rotates_the_key_by_hand(client, shop):
    session = scheduled(shop)
    old_key = session.stream_key
    client.force_login(shop.owner)
    client.post(reverse("live:rotate-key", kwargs={"pk": session.pk}))
    client.post(reverse("live:start", kwargs={"pk": session.pk}))
    session.refresh_from_db()
    assert session.is_live
    assert session.stream_key != old_key
    response = client.post(reverse("live:end", kwargs={"pk": session.pk}), follow=True)
    session.refresh_from_db()
    assert session.status == LiveSession.Status.ENDED
    body = response.content.decode()
    assert "After the live" in body
    assert "viewers" in body


def test_going_live_after_the_end_says_why(client, shop):
    session = scheduled(shop)
    sessions.end_session(session=session, by=shop.owner)
    client.force_login(shop.owner)
    response = client.post(reverse("live:start", kwargs={"pk": session.pk}))
    assert response.status_code == 409
    assert "This live has ended" in response.content.decode()


# --- Live now and the profile ---------------------------------------------------------------------


def test_live_now_lists_live_then_upcoming_and_hides_ended_and_suspended(client, shop):
    on_air(shop, title="On air")
    scheduled(ShopFactory(), title="Tomorrow", minutes=60 * 24)
    ended = scheduled(ShopFactory(), title="Over")
    sessions.end_session(session=ended, by=ended.host)
    banned = ShopFactory()
    scheduled(banned, title="Hidden")
    type(banned).objects.filter(pk=banned.pk).update(status="suspended", suspended_reason="x")
    body = client.get(reverse("live:now")).content.decode()
    assert body.index("On air") < body.index("Upcoming") < body.index("Tomorrow")
    assert "Over" not in body
    assert "Hidden" not in body


def test_live_now_puts_creators_i_follow_first(client, shopper):
    stranger, followed = ShopFactory(), ShopFactory()
    on_air(stranger, title="Stranger live")
    on_air(followed, title="Followed live")
    Follow.objects.create(follower=shopper, creator=followed.owner)
    client.force_login(shopper)
    body = client.get(reverse("live:now")).content.decode()
    assert body.index("Followed live") < body.index("Stranger live")


def test_live_now_query_count_does_not_grow_with_sessions(
    client, django_assert_max_num_queries, django_assert_num_queries
):
    on_air(ShopFactory())
    scheduled(ShopFactory())
    with django_assert_max_num_queries(4) as few:
        client.get(reverse("live:now"))
    for _ in range(5):
        on_air(ShopFactory())
        scheduled(ShopFactory())
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(reverse("live:now"))


def test_the_profile_shows_live_and_upcoming_sessions(client, shop):
    on_air(shop, title="Happening now")
    scheduled(shop, title="Next week", minutes=60 * 24 * 7)
    body = client.get(f"/@{shop.owner.handle}/").content.decode()
    assert "Happening now" in body
    assert "Next week" in body
    assert body.index("Happening now") < body.index("Next week")


def test_the_profile_block_costs_the_same_queries_whatever_the_number_of_sessions(
    client, shop, django_assert_max_num_queries, django_assert_num_queries
):
    scheduled(shop)
    url = f"/@{shop.owner.handle}/"
    for _ in range(2):  # the first visit teaches the cache the shop, the second stores the tab
        client.get(url)
    on_air(shop)  # a session saved: the profile's head (sessions included) is built afresh
    with django_assert_max_num_queries(10) as few:
        client.get(url)
    for _ in range(4):
        on_air(shop)
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(url)
    assert response.content.decode().count("On air now") == 5


# --- the live page --------------------------------------------------------------------------------


def test_the_live_page_shows_the_room_but_never_the_stream_key(client, shop, shopper):
    a, b = product(shop, "Linen Shirt"), product(shop, "Canvas Tote")
    session = on_air(shop, a, b)
    LiveSession.objects.filter(pk=session.pk).update(pinned_product=b)
    client.force_login(shopper)
    response = client.get(reverse("live:watch", kwargs={"pk": session.pk}))
    body = response.content.decode()
    assert response.status_code == 200
    assert "On air now" in body
    assert "Linen Shirt" in body
    assert "Canvas Tote" in body
    assert session.stream_key not in body
    snap = snapshot_of(response)
    assert snap["session"]["status"] == "live"
    assert snap["pinned"]["title"] == "Canvas Tote"
    assert [c["title"] for c in snap["lineup"]] == ["Linen Shirt", "Canvas Tote"]
    assert f"session-{session.pk}.m3u8" in body
    assert "Host controls" not in body


def test_the_host_sees_the_controls_on_the_live_page_but_not_the_key(client, shop):
    session = on_air(shop, product(shop))
    client.force_login(shop.owner)
    body = client.get(reverse("live:watch", kwargs={"pk": session.pk})).content.decode()
    assert "Host controls" in body
    assert session.stream_key not in body


def test_the_live_page_carries_recent_chat(client, shop, shopper):
    from live.models import ChatMessage

    session = on_air(shop)
    ChatMessage.objects.create(session=session, user=shopper, text="hello there")
    gone = ChatMessage.objects.create(session=session, user=shopper, text="rude words")
    type(gone).objects.filter(pk=gone.pk).update(deleted_at=timezone.now())
    snap = snapshot_of(client.get(reverse("live:watch", kwargs={"pk": session.pk})))
    assert [m["text"] for m in snap["chat"]] == ["hello there"]
    assert snap["chat"][0]["user"]["handle"] == "shopper"


def test_a_scheduled_session_page_says_when_it_starts(client, shop):
    session = scheduled(shop)
    body = client.get(reverse("live:watch", kwargs={"pk": session.pk})).content.decode()
    assert "Starts" in body


def test_a_suspended_shops_live_page_is_not_found_for_viewers(client, shop, shopper):
    session = on_air(shop)
    type(shop).objects.filter(pk=shop.pk).update(status="suspended", suspended_reason="x")
    client.force_login(shopper)
    assert client.get(reverse("live:watch", kwargs={"pk": session.pk})).status_code == 404
    client.force_login(shop.owner)
    assert client.get(reverse("live:watch", kwargs={"pk": session.pk})).status_code == 200


def test_an_unknown_session_is_not_found(client):
    assert client.get(reverse("live:watch", kwargs={"pk": 999999})).status_code == 404


def test_live_page_query_count_does_not_grow_with_the_lineup(
    client, shop, shopper, django_assert_max_num_queries, django_assert_num_queries
):
    first = product(shop, "First")
    session = on_air(shop, first)
    LiveSession.objects.filter(pk=session.pk).update(pinned_product=first)
    client.force_login(shopper)
    url = reverse("live:watch", kwargs={"pk": session.pk})
    with django_assert_max_num_queries(12) as few:
        client.get(url)
    for i in range(8):
        p = product(shop, f"More {i}")
        LineupItem.objects.create(session=session, product=p, position=10 + i)
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(url)
    assert len(snapshot_of(response)["lineup"]) == 9


# --- buying ---------------------------------------------------------------------------------------


def buy(client, session, variant, **extra):
    data = {"variant_id": variant.pk, "quantity": 1, **extra}
    return client.post(reverse("live:buy", kwargs={"pk": session.pk}), data)


def test_buy_now_with_a_saved_address_goes_straight_to_paying(client, shop, shopper):
    p = product(shop, quantity=3)
    variant = p.variants.get()
    session = on_air(shop, p)
    AddressFactory(user=shopper)
    client.force_login(shopper)
    response = buy(client, session, variant)
    checkout = Checkout.objects.get(buyer=shopper)
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "orders:checkout-pay", kwargs={"checkout_id": checkout.pk}
    )
    order = Order.objects.get(checkout=checkout)
    assert (order.source, order.source_ref) == ("live", str(session.pk))
    variant.refresh_from_db()
    assert variant.quantity == 2


def test_buy_now_without_an_address_asks_for_one_and_keeps_it_as_default(client, shop, shopper):
    p = product(shop)
    variant = p.variants.get()
    session = on_air(shop, p)
    client.force_login(shopper)
    response = buy(client, session, variant)
    assert response.status_code == 200
    assert "Where should we ship it?" in response.content.decode()
    assert not Checkout.objects.exists()
    response = buy(client, session, variant, address_form="1", **{**ADDRESS, "city": ""})
    assert response.status_code == 400
    assert not Checkout.objects.exists()
    response = buy(client, session, variant, address_form="1", **ADDRESS)
    assert response.status_code == 302
    assert Address.objects.get(user=shopper).is_default
    assert Checkout.objects.filter(buyer=shopper).count() == 1


def test_an_address_entered_for_a_refused_purchase_is_not_kept(client, shop, shopper):
    p = product(shop)
    session = on_air(shop, p)
    sessions.end_session(session=session, by=shop.owner)
    client.force_login(shopper)
    response = buy(client, session, p.variants.get(), address_form="1", **ADDRESS)
    assert response.status_code == 409
    assert "ended" in response.content.decode()
    assert not Address.objects.filter(user=shopper).exists()
    assert not Checkout.objects.exists()


def test_buying_needs_a_login(client, shop):
    p = product(shop)
    session = on_air(shop, p)
    response = buy(client, session, p.variants.get())
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    assert not Checkout.objects.exists()


def test_buying_after_the_end_is_refused_with_a_reason(client, shop, shopper):
    p = product(shop)
    session = on_air(shop, p)
    sessions.end_session(session=session, by=shop.owner)
    AddressFactory(user=shopper)
    client.force_login(shopper)
    response = buy(client, session, p.variants.get())
    assert response.status_code == 409
    assert "ended" in response.content.decode()
    assert not Checkout.objects.exists()


@pytest.mark.parametrize(("variant_id", "quantity"), [("nope", 1), ("", 1), (None, 0), (None, 500)])
def test_bad_buy_input_gets_a_clear_4xx(client, shop, shopper, variant_id, quantity):
    p = product(shop)
    session = on_air(shop, p)
    client.force_login(shopper)
    data = {"variant_id": p.variants.get().pk if variant_id is None else variant_id}
    data["quantity"] = quantity
    response = client.post(reverse("live:buy", kwargs={"pk": session.pk}), data)
    assert 400 <= response.status_code < 500
    assert not Checkout.objects.exists()


def test_buying_during_a_flash_deal_shows_and_charges_the_deal_price(client, shop, shopper):
    from live.selling import services as selling

    p = product(shop, price=3900, quantity=5)
    variant = p.variants.get()
    session = on_air(shop, p)
    deal = selling.start_deal(
        session=session,
        product=p,
        price_amount=1999,
        quantity=2,
        duration_seconds=60,
        by=shop.owner,
    )
    client.force_login(shopper)
    asked = buy(client, session, variant, deal_id=deal.pk)
    assert "$19.99" in asked.content.decode()  # the address step shows what will be charged
    response = buy(client, session, variant, deal_id=deal.pk, address_form="1", **ADDRESS)
    assert response.status_code == 302
    item = Order.objects.get(checkout__buyer=shopper).items.get()
    assert item.unit_price_amount == 1999
    deal.refresh_from_db()
    assert deal.remaining == 1
