"""Live sessions: scheduling, the state machine, the stream key and the media-server hooks."""

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from live.models import FlashDeal, LineupItem, LiveSession
from live.room.bus import MemoryBus
from live.stream import media
from live.stream import services as sessions
from shopfeed.accounts.tests.factories import CreatorFactory, UserFactory
from shopfeed.errors import Conflict, NotAllowed, NotFound, ShopFeedError
from shops.models import Product
from shops.tests.factories import ProductFactory, ShopFactory, VariantFactory, make_image_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(monkeypatch):
    """Every room event published after commit, per session, in order."""
    bus = MemoryBus(window=1000)
    seen: list[tuple[int, dict]] = []
    bus.add_listener(lambda sid, frame: seen.append((sid, json.loads(frame))))
    monkeypatch.setattr("live.broadcast.get_bus", lambda: bus)
    return seen


def types(events, session_id):
    return [e["type"] for sid, e in events if sid == session_id]


def soon(minutes=60):
    return timezone.now() + timedelta(minutes=minutes)


def products(shop, n=2):
    out = []
    for i in range(n):
        p = ProductFactory(shop=shop, title=f"Item {i}")
        VariantFactory(product=p, price_amount=1000 + i, quantity=5)
        out.append(p)
    return out


@pytest.fixture
def session(shop):
    a, b = products(shop)
    return sessions.schedule_session(
        host=shop.owner, title="Friday drop", scheduled_at=soon(), product_ids=[b.pk, a.pk]
    )


def hook(client, name, key, **extra):
    return client.post(reverse(f"live:{name}"), {"call": "publish", "name": key}, **extra)


# --- scheduling -----------------------------------------------------------------------------------


def test_creator_schedules_a_session_with_its_lineup_in_the_order_chosen(shop):
    a, _b, c = products(shop, 3)
    session = sessions.schedule_session(
        host=shop.owner,
        title="  Spring haul ",
        scheduled_at=soon(),
        cover=make_image_file("cover.png"),
        product_ids=[c.pk, a.pk, str(c.pk)],
    )
    assert session.status == LiveSession.Status.SCHEDULED
    assert session.title == "Spring haul"
    assert session.shop == shop
    assert session.cover.name.startswith("live/covers/")
    assert list(session.lineup.values_list("product_id", flat=True)) == [c.pk, a.pk]
    assert len(session.stream_key) >= 32


def test_a_shopper_cannot_schedule_a_live(shopper):
    with pytest.raises(NotAllowed):
        sessions.schedule_session(host=shopper, title="Hi", scheduled_at=soon())
    assert not LiveSession.objects.exists()


def test_a_creator_without_a_shop_or_with_a_suspended_one_cannot_schedule(creator):
    with pytest.raises(NotAllowed, match="Open your shop"):
        sessions.schedule_session(host=creator, title="Hi", scheduled_at=soon())
    ShopFactory(owner=creator, status="suspended", suspended_reason="Fake goods")
    with pytest.raises(NotAllowed, match="suspended"):
        sessions.schedule_session(host=creator, title="Hi", scheduled_at=soon())
    assert not LiveSession.objects.exists()


@pytest.mark.parametrize("whose", ["other_shop", "draft", "archived"])
def test_lineup_takes_only_active_products_of_the_hosts_shop(shop, other_shop, whose):
    good = products(shop, 1)[0]
    if whose == "other_shop":
        bad = ProductFactory(shop=other_shop)
    else:
        bad = ProductFactory(shop=shop, status=whose)
    with pytest.raises(ShopFeedError) as exc:
        sessions.schedule_session(
            host=shop.owner, title="Hi", scheduled_at=soon(), product_ids=[good.pk, bad.pk]
        )
    assert exc.value.field == "product_ids"
    assert not LiveSession.objects.exists()
    assert not LineupItem.objects.exists()


@pytest.mark.parametrize("title", ["", "   ", "x" * 121])
def test_a_title_is_required_and_short(shop, title):
    with pytest.raises(ShopFeedError) as exc:
        sessions.schedule_session(host=shop.owner, title=title, scheduled_at=soon())
    assert exc.value.field == "title"


def test_a_start_time_in_the_past_is_refused(shop):
    with pytest.raises(ShopFeedError, match="future"):
        sessions.schedule_session(host=shop.owner, title="Hi", scheduled_at=soon(-60))
    assert not LiveSession.objects.exists()


def test_a_cover_that_is_not_an_image_is_refused_and_nothing_is_saved(shop):
    from django.core.files.uploadedfile import SimpleUploadedFile

    fake = SimpleUploadedFile("cover.png", b"not an image", content_type="image/png")
    with pytest.raises(ValidationError):
        sessions.schedule_session(host=shop.owner, title="Hi", scheduled_at=soon(), cover=fake)
    assert not LiveSession.objects.exists()


def test_set_lineup_replaces_it_unpins_a_removed_product_and_tells_the_room(
    session, shop, events, django_capture_on_commit_callbacks
):
    first, second = session.lineup.values_list("product_id", flat=True)
    LiveSession.objects.filter(pk=session.pk).update(pinned_product_id=first)
    session.refresh_from_db()
    third = products(shop, 1)[0]
    with django_capture_on_commit_callbacks(execute=True):
        sessions.set_lineup(session=session, by=shop.owner, product_ids=[third.pk, second])
    session.refresh_from_db()
    assert session.pinned_product_id is None
    assert list(session.lineup.values_list("product_id", flat=True)) == [third.pk, second]
    assert types(events, session.pk) == ["unpin", "lineup"]
    items = events[-1][1]["data"]["items"]
    assert [i["id"] for i in items] == [third.pk, second]
    assert set(items[0]) == {
        "id",
        "title",
        "url",
        "thumbnail_url",
        "currency",
        "min_price_amount",
        "max_price_amount",
        "variants",
    }
    assert items[0]["variants"][0]["quantity"] == 5


def test_another_creator_cannot_change_the_lineup_or_details(session):
    intruder = ShopFactory().owner
    with pytest.raises(NotAllowed):
        sessions.set_lineup(session=session, by=intruder, product_ids=[])
    with pytest.raises(NotAllowed):
        sessions.update_session(session=session, by=intruder, title="Mine now")
    session.refresh_from_db()
    assert session.title == "Friday drop"
    assert session.lineup.count() == 2


def test_update_session_changes_title_and_time_but_not_after_the_end(session, shop):
    later = soon(120)
    sessions.update_session(session=session, by=shop.owner, title="New title", scheduled_at=later)
    session.refresh_from_db()
    assert (session.title, session.scheduled_at) == ("New title", later)
    sessions.end_session(session=session, by=shop.owner)
    with pytest.raises(Conflict):
        sessions.update_session(session=session, by=shop.owner, title="Again")


def test_a_refused_lineup_leaves_the_title_and_time_unchanged_too(session, shop, other_shop):
    kept = list(session.lineup.values_list("product_id", flat=True))
    foreign = ProductFactory(shop=other_shop)
    with pytest.raises(ShopFeedError) as exc:
        sessions.update_session_and_lineup(
            session=session,
            by=shop.owner,
            title="Renamed",
            scheduled_at=soon(120),
            product_ids=[foreign.pk],
        )
    assert exc.value.field == "product_ids"
    session.refresh_from_db()
    assert session.title == "Friday drop"
    assert list(session.lineup.values_list("product_id", flat=True)) == kept


# --- the state machine ----------------------------------------------------------------------------


def test_going_live_and_ending_tell_the_room_once_however_often_they_are_called(
    session, shop, events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sessions.go_live(session=session, by=shop.owner)
        sessions.go_live(session=session, by=None)
    session.refresh_from_db()
    assert session.status == LiveSession.Status.LIVE
    assert session.started_at is not None
    started_at = session.started_at
    with django_capture_on_commit_callbacks(execute=True):
        sessions.end_session(session=session, by=shop.owner)
        sessions.end_session(session=session, by=None)
    session.refresh_from_db()
    assert session.status == LiveSession.Status.ENDED
    assert session.ended_at is not None
    assert session.started_at == started_at
    assert types(events, session.pk) == ["session.started", "session.ended"]


def test_an_ended_session_cannot_go_live_again(session, shop):
    sessions.end_session(session=session, by=shop.owner)
    with pytest.raises(Conflict):
        sessions.go_live(session=session, by=shop.owner)
    session.refresh_from_db()
    assert session.status == LiveSession.Status.ENDED
    assert session.started_at is None


def test_staff_may_end_a_session_but_another_creator_may_not(session):
    with pytest.raises(NotAllowed):
        sessions.go_live(session=session, by=CreatorFactory())
    with pytest.raises(NotAllowed):
        sessions.end_session(session=session, by=UserFactory())
    session.refresh_from_db()
    assert session.status == LiveSession.Status.SCHEDULED
    sessions.end_session(session=session, by=UserFactory(is_staff=True))
    session.refresh_from_db()
    assert session.status == LiveSession.Status.ENDED


def test_ending_a_session_ends_its_running_deal(session, shop):
    sessions.go_live(session=session, by=shop.owner)
    now = timezone.now()
    deal = FlashDeal.objects.create(
        session=session,
        product=Product.objects.get(pk=session.lineup.first().product_id),
        deal_price_amount=500,
        currency="USD",
        quantity=3,
        starts_at=now,
        ends_at=now + timedelta(minutes=5),
    )
    sessions.end_session(session=session, by=shop.owner)
    deal.refresh_from_db()
    assert deal.status == FlashDeal.Status.ENDED


# --- the stream key -------------------------------------------------------------------------------


def test_rotating_the_key_makes_the_old_one_useless(session, shop):
    old = session.stream_key
    sessions.rotate_stream_key(session=session, by=shop.owner)
    session.refresh_from_db()
    assert session.stream_key != old
    with pytest.raises(sessions.WrongStreamKey):
        sessions.handle_publish(stream_key=old)
    assert sessions.handle_publish(stream_key=session.stream_key).is_live


def test_another_creator_cannot_rotate_the_key(session):
    old = session.stream_key
    with pytest.raises(NotAllowed):
        sessions.rotate_stream_key(session=session, by=CreatorFactory())
    session.refresh_from_db()
    assert session.stream_key == old


def test_media_urls_show_the_key_only_on_the_ingest_side(session, settings):
    settings.LIVE_RTMP_URL = "rtmp://media.example:1935/live/"
    settings.LIVE_HLS_URL = "https://cdn.example/hls"
    assert media.ingest_url(session) == f"rtmp://media.example:1935/live/{session.stream_key}"
    assert media.playback_url(session) == f"https://cdn.example/hls/session-{session.pk}.m3u8"
    assert session.stream_key not in media.playback_url(session)


# --- media-server hooks ---------------------------------------------------------------------------


def test_publish_with_the_right_key_goes_live_and_renames_the_stream(client, session):
    response = hook(client, "hook-publish", session.stream_key)
    assert response.status_code == 302
    assert response["Location"] == f"session-{session.pk}"
    session.refresh_from_db()
    assert session.status == LiveSession.Status.LIVE


def test_publish_with_a_wrong_key_is_refused_and_nothing_goes_live(client, session):
    for key in ["nope", "", session.stream_key[:-1], f"session-{session.pk}"]:
        assert hook(client, "hook-publish", key).status_code == 403
    session.refresh_from_db()
    assert session.status == LiveSession.Status.SCHEDULED


def test_publish_for_an_ended_session_is_refused(client, session, shop):
    sessions.end_session(session=session, by=shop.owner)
    assert hook(client, "hook-publish", session.stream_key).status_code == 403
    session.refresh_from_db()
    assert session.status == LiveSession.Status.ENDED


def test_publish_done_ends_the_session_and_a_repeat_is_harmless(client, session):
    hook(client, "hook-publish", session.stream_key)
    assert hook(client, "hook-publish-done", session.stream_key).status_code == 200
    assert hook(client, "hook-publish-done", session.stream_key).status_code == 200
    session.refresh_from_db()
    assert session.status == LiveSession.Status.ENDED


def test_publish_done_with_an_unknown_key_changes_nothing(client, session):
    sessions.go_live(session=session, by=None)
    assert hook(client, "hook-publish-done", "nope").status_code == 404
    with pytest.raises(NotFound):
        sessions.handle_publish_done(stream_key="nope")
    session.refresh_from_db()
    assert session.is_live


def test_hooks_need_the_shared_secret_when_one_is_set(client, session, settings):
    settings.LIVE_HOOK_SECRET = "s3cret"
    assert hook(client, "hook-publish", session.stream_key).status_code == 403
    url = reverse("live:hook-publish") + "?secret=wrong"
    assert client.post(url, {"name": session.stream_key}).status_code == 403
    session.refresh_from_db()
    assert session.status == LiveSession.Status.SCHEDULED
    url = reverse("live:hook-publish") + "?secret=s3cret"
    assert client.post(url, {"name": session.stream_key}).status_code == 302


def test_without_a_secret_only_a_direct_loopback_caller_is_heard(client, session, settings):
    settings.LIVE_HOOK_SECRET = ""
    far = hook(client, "hook-publish", session.stream_key, REMOTE_ADDR="203.0.113.9")
    proxied = hook(client, "hook-publish", session.stream_key, HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert far.status_code == proxied.status_code == 403
    session.refresh_from_db()
    assert session.status == LiveSession.Status.SCHEDULED


def test_hooks_refuse_get(client, session):
    assert client.get(reverse("live:hook-publish"), {"name": session.stream_key}).status_code == 405


def test_a_suspended_shop_cannot_go_live_from_the_encoder(client, session, shop):
    type(shop).objects.filter(pk=shop.pk).update(status="suspended", suspended_reason="Fakes")
    assert hook(client, "hook-publish", session.stream_key).status_code == 403
    session.refresh_from_db()
    assert session.status == LiveSession.Status.SCHEDULED
