"""Host actions through the room's dispatcher: what a socket may ask, and who may ask it."""

import pytest
from django.contrib.auth.models import AnonymousUser

from live.models import FlashDeal, LiveSession
from live.room.actions import RoomContext, dispatch
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.errors import NotAllowed, NotFound, ShopFeedError
from shops.tests.factories import ShopFactory

from .selling_support import capture_room_events, live_session, product_with_variant

pytestmark = pytest.mark.django_db


@pytest.fixture
def room_events(monkeypatch):
    return capture_room_events(monkeypatch)


@pytest.fixture
def product(shop):
    return product_with_variant(shop, price_amount=2000, quantity=30)[0]


@pytest.fixture
def session(shop, product):
    return live_session(shop, product)


def ctx(session, user, *, is_host=None, is_staff=None):
    return RoomContext(
        session_id=session.pk,
        user=user,
        is_host=(getattr(user, "pk", None) == session.host_id) if is_host is None else is_host,
        is_staff=bool(getattr(user, "is_staff", False)) if is_staff is None else is_staff,
    )


DEAL = {"price_amount": 1500, "quantity": 5, "duration_seconds": 60}


def forged_actions(product, deal_id):
    return [
        ("pin", {"product_id": product.pk}),
        ("unpin", {}),
        ("deal.start", {"product_id": product.pk, **DEAL}),
        ("deal.end", {"deal_id": deal_id}),
        ("notice", {"text": "Everything free!"}),
        ("session.end", {}),
    ]


def _state(session):
    session.refresh_from_db()
    return (
        session.status,
        session.pinned_product_id,
        list(FlashDeal.objects.values_list("pk", "status", "sold")),
    )


def test_a_viewers_forged_host_actions_are_refused_and_change_nothing(
    session, product, creator, shopper, room_events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        deal = dispatch(ctx(session, creator), "deal.start", {"product_id": product.pk, **DEAL})
        dispatch(ctx(session, creator), "pin", {"product_id": product.pk})
    before = _state(session)
    seen = len(room_events.frames)

    for name, payload in forged_actions(product, deal["deal"]["id"]):
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(NotAllowed) as exc:
            dispatch(ctx(session, shopper), name, payload)
        assert exc.value.code == "host_only", name

    assert _state(session) == before
    assert len(room_events.frames) == seen


def test_a_signed_out_watcher_is_asked_to_log_in(session, product):
    with pytest.raises(NotAllowed) as exc:
        dispatch(ctx(session, AnonymousUser()), "pin", {"product_id": product.pk})
    assert exc.value.code == "login_required"


def test_a_context_wrongly_marked_host_is_still_refused_by_the_services(session, product, shopper):
    forged = ctx(session, shopper, is_host=True)
    for name, payload in [*forged_actions(product, 0)[:3], ("session.end", {})]:
        with pytest.raises(NotAllowed):
            dispatch(forged, name, payload)
    assert _state(session) == (LiveSession.Status.LIVE, None, [])


def test_the_host_pins_and_unpins_through_the_room(
    session, product, creator, room_events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert dispatch(ctx(session, creator), "pin", {"product_id": product.pk}) == {
            "pinned": product.pk
        }
        dispatch(ctx(session, creator), "unpin", {})
    session.refresh_from_db()
    assert session.pinned_product_id is None
    assert room_events.types(session.pk) == ["pin", "unpin"]


def test_the_host_runs_a_deal_from_start_to_end(
    session, product, creator, room_events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        started = dispatch(ctx(session, creator), "deal.start", {"product_id": product.pk, **DEAL})
        deal_id = started["deal"]["id"]
        assert started["deal"]["remaining"] == 5
        ended = dispatch(ctx(session, creator), "deal.end", {"deal_id": deal_id})
    assert ended == {"deal_id": deal_id, "status": "ended"}
    assert room_events.types(session.pk) == ["deal.started", "deal.ended"]


def test_staff_may_act_in_any_room(session, product, room_events):
    staff = UserFactory(is_staff=True)
    dispatch(ctx(session, staff), "pin", {"product_id": product.pk})
    session.refresh_from_db()
    assert session.pinned_product_id == product.pk


def test_the_host_posts_a_notice_and_ends_the_session_with_its_deal(
    session, product, creator, room_events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        dispatch(ctx(session, creator), "deal.start", {"product_id": product.pk, **DEAL})
        assert dispatch(ctx(session, creator), "notice", {"text": "  Last  call! "}) == {
            "text": "Last call!"
        }
        assert dispatch(ctx(session, creator), "session.end", {}) == {"status": "ended"}
    session.refresh_from_db()
    assert session.status == LiveSession.Status.ENDED
    assert FlashDeal.objects.get().status == FlashDeal.Status.ENDED
    assert room_events.of(session.pk, "notice") == [{"text": "Last call!"}]
    assert room_events.types(session.pk)[-2:] == ["deal.ended", "session.ended"]


@pytest.mark.parametrize(
    ("name", "payload", "field"),
    [
        ("pin", {}, "product_id"),
        ("pin", {"product_id": "abc"}, "product_id"),
        ("pin", {"product_id": None}, "product_id"),
        ("deal.start", {"product_id": "PRODUCT", **DEAL, "price_amount": "15.00"}, "price_amount"),
        ("deal.start", {"product_id": "PRODUCT", **DEAL, "quantity": True}, "quantity"),
        ("deal.start", {"product_id": "PRODUCT", "price_amount": 1500, "quantity": 5}, None),
        ("deal.end", {"deal_id": [1]}, "deal_id"),
        ("notice", {}, "text"),
        ("notice", {"text": 7}, "text"),
    ],
)
def test_bad_payloads_get_a_clear_error_and_write_nothing(
    session, product, creator, room_events, name, payload, field
):
    payload = {k: (product.pk if v == "PRODUCT" else v) for k, v in payload.items()}
    with pytest.raises(ShopFeedError) as exc:
        dispatch(ctx(session, creator), name, payload)
    assert exc.value.code == "bad_payload"
    assert exc.value.message
    if field:
        assert exc.value.field == field
    else:
        assert "duration_seconds" in exc.value.message
    assert _state(session) == (LiveSession.Status.LIVE, None, [])
    assert room_events.frames == []


def test_a_deal_of_another_session_cannot_be_ended_from_this_room(session, product, creator, shop):
    other = live_session(shop, product, title="Other room")
    deal = dispatch(ctx(other, creator), "deal.start", {"product_id": product.pk, **DEAL})
    with pytest.raises(NotFound):
        dispatch(ctx(session, creator), "deal.end", {"deal_id": deal["deal"]["id"]})
    assert FlashDeal.objects.get().status == FlashDeal.Status.ACTIVE


def test_a_product_of_another_shop_cannot_be_pinned(session, creator):
    foreign, _ = product_with_variant(ShopFactory(), title="Not mine")
    with pytest.raises(NotFound):
        dispatch(ctx(session, creator), "pin", {"product_id": foreign.pk})
    session.refresh_from_db()
    assert session.pinned_product_id is None


def test_an_unknown_product_id_is_not_found(session, creator):
    with pytest.raises(NotFound):
        dispatch(ctx(session, creator), "deal.start", {"product_id": 999_999, **DEAL})
