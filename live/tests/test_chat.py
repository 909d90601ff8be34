"""Chat and moderation services (live/chat/services.py), without sockets."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from live.chat import services as chat
from live.models import BlockedWord, ChatMessage, LiveSession, RoomRestriction
from live.room.actions import RoomContext, dispatch
from live.tests.selling_support import capture_room_events, live_session
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.errors import NotAllowed, NotFound, ShopFeedError


@pytest.fixture(autouse=True)
def _chat_settings(settings, request):
    # A cache of this test's own: the rate counters must not leak between tests.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": request.node.nodeid,
        }
    }
    settings.LIVE_CHAT_RATE = 3
    settings.LIVE_CHAT_RATE_WINDOW = 10
    settings.LIVE_CHAT_MAX_LENGTH = 20


@pytest.fixture
def events(monkeypatch):
    return capture_room_events(monkeypatch)


@pytest.fixture
def session(shop):
    return live_session(shop)


@pytest.fixture
def ana(db):
    return UserFactory(handle="ana", display_name="Ana")


@pytest.fixture
def clock(monkeypatch):
    """The rate limiter's clock, set by the test."""
    now = [1_000_000.0]
    monkeypatch.setattr(chat, "_clock", lambda: now[0])
    return now


def post(session, user, text, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return chat.post_message(session=session, user=user, text=text)


def test_a_message_is_kept_and_published_to_the_room(
    session, ana, events, django_capture_on_commit_callbacks
):
    message = post(session, ana, "  hello room  ", django_capture_on_commit_callbacks)
    assert ChatMessage.objects.get().text == "hello room"
    assert events.of(session.pk, "chat.message") == [
        {"id": message.pk, "user": {"handle": "ana", "name": "Ana"}, "text": "hello room"}
    ]


def test_an_anonymous_visitor_cannot_post(session, events):
    with pytest.raises(NotAllowed) as refused:
        chat.post_message(session=session, user=AnonymousUser(), text="hi")
    assert refused.value.code == "login_required"
    assert not ChatMessage.objects.exists()


@pytest.mark.parametrize(
    ("text", "code"), [("", "empty"), ("   ", "empty"), (None, "empty"), ("x" * 21, "too_long")]
)
def test_blank_and_too_long_messages_are_refused_and_nothing_is_written(
    session, ana, events, text, code
):
    with pytest.raises(ShopFeedError) as refused:
        chat.post_message(session=session, user=ana, text=text)
    assert refused.value.code == code
    if code == "too_long":
        assert "at most 20 characters" in refused.value.message
    assert not ChatMessage.objects.exists()
    assert events.frames == []


def test_a_blocked_word_of_the_shop_is_refused_and_named(session, shop, ana, events):
    BlockedWord.objects.create(shop=shop, word="Scam")
    with pytest.raises(ShopFeedError) as refused:
        chat.post_message(session=session, user=ana, text="total SCAM, run")
    assert refused.value.code == "blocked_word"
    assert "“Scam”" in refused.value.message
    assert not ChatMessage.objects.exists()


def test_blocked_words_match_whole_words_only(
    session, shop, ana, events, django_capture_on_commit_callbacks
):
    BlockedWord.objects.create(shop=shop, word="ass")
    post(session, ana, "first class stuff", django_capture_on_commit_callbacks)
    assert ChatMessage.objects.count() == 1


def test_another_shops_blocked_words_do_not_apply(
    session, other_shop, ana, events, django_capture_on_commit_callbacks
):
    BlockedWord.objects.create(shop=other_shop, word="scam")
    post(session, ana, "not a scam", django_capture_on_commit_callbacks)
    assert ChatMessage.objects.count() == 1


def test_a_muted_viewer_is_refused_until_the_mute_ends(
    session, creator, ana, events, django_capture_on_commit_callbacks
):
    mute = RoomRestriction.objects.create(
        host=creator, user=ana, kind="mute", until=timezone.now() + timedelta(minutes=5)
    )
    with pytest.raises(NotAllowed) as refused:
        chat.post_message(session=session, user=ana, text="hello?")
    assert refused.value.code == "muted"
    assert "until" in refused.value.message
    RoomRestriction.objects.filter(pk=mute.pk).update(until=timezone.now() - timedelta(seconds=1))
    post(session, ana, "back", django_capture_on_commit_callbacks)
    assert list(ChatMessage.objects.values_list("text", flat=True)) == ["back"]


def test_a_banned_viewer_cannot_post_in_any_of_the_hosts_lives(shop, creator, ana, events):
    RoomRestriction.objects.create(host=creator, user=ana, kind="ban")
    other_session = live_session(shop, title="Another day")
    with pytest.raises(NotAllowed) as refused:
        chat.post_message(session=other_session, user=ana, text="hi")
    assert refused.value.code == "banned"


def test_the_rate_limit_refuses_past_the_limit_then_a_new_window_allows_again(
    session, ana, events, clock, django_capture_on_commit_callbacks
):
    for n in range(3):
        post(session, ana, f"m{n}", django_capture_on_commit_callbacks)
    clock[0] += 4
    with pytest.raises(chat.RateLimited) as refused:
        chat.post_message(session=session, user=ana, text="one too many")
    assert refused.value.status_code == 429
    assert "at most 3 messages every 10 seconds" in refused.value.message
    assert "Try again in 6 s" in refused.value.message
    clock[0] += 6
    post(session, ana, "later", django_capture_on_commit_callbacks)
    assert ChatMessage.objects.count() == 4


def test_the_rate_limit_is_per_user(
    session, ana, events, clock, django_capture_on_commit_callbacks
):
    ben = UserFactory(handle="ben")
    for n in range(3):
        post(session, ana, f"a{n}", django_capture_on_commit_callbacks)
    post(session, ben, "ben is fine", django_capture_on_commit_callbacks)
    assert ChatMessage.objects.filter(user=ben).count() == 1


def test_chat_is_closed_once_the_session_has_ended(shop, ana, events):
    ended = live_session(shop, status=LiveSession.Status.ENDED)
    with pytest.raises(ShopFeedError) as refused:
        chat.post_message(session=ended, user=ana, text="too late")
    assert refused.value.code == "session_ended"


def test_the_host_deletes_a_message_once_and_it_is_kept_for_moderation(
    session, creator, ana, events, django_capture_on_commit_callbacks
):
    message = ChatMessage.objects.create(session=session, user=ana, text="spoiler")
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            chat.delete_message(message=message, by=creator)
    message.refresh_from_db()
    assert message.deleted_at is not None
    assert message.deleted_by == creator
    assert events.of(session.pk, "chat.deleted") == [{"message_id": message.pk}]


def test_a_viewer_cannot_delete_someone_elses_message(session, ana, events):
    message = ChatMessage.objects.create(session=session, user=UserFactory(), text="mine")
    with pytest.raises(NotAllowed):
        chat.delete_message(message=message, by=ana)
    message.refresh_from_db()
    assert message.deleted_at is None
    assert events.frames == []


def test_a_timed_mute_sets_its_end_and_unmute_lifts_it(
    session, creator, ana, events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        chat.moderate(session=session, by=creator, handle="@Ana", kind="mute", minutes=30)
    mute = RoomRestriction.objects.get(user=ana, kind="mute")
    assert timedelta(minutes=29) < mute.until - timezone.now() <= timedelta(minutes=30)
    with django_capture_on_commit_callbacks(execute=True):
        chat.moderate(session=session, by=creator, handle="ana", kind="unmute")
    assert not RoomRestriction.objects.exists()
    assert events.of(session.pk, "moderation") == [
        {"user": "ana", "kind": "mute"},
        {"user": "ana", "kind": "unmute"},
    ]


def test_banning_again_replaces_the_ban_rather_than_duplicating_it(session, creator, ana, events):
    chat.moderate(session=session, by=creator, handle="ana", kind="ban", minutes=5)
    chat.moderate(session=session, by=creator, handle="ana", kind="ban")
    ban = RoomRestriction.objects.get(user=ana, kind="ban")
    assert ban.until is None


@pytest.mark.parametrize(
    ("handle", "kind", "minutes", "error"),
    [
        ("nobody", "mute", None, NotFound),
        ("ana", "shout", None, ShopFeedError),
        ("ana", "mute", 0, ShopFeedError),
        ("ana", "mute", "soon", ShopFeedError),
        (None, "ban", None, NotFound),
    ],
)
def test_bad_moderation_requests_are_refused_and_change_nothing(
    session, creator, ana, events, handle, kind, minutes, error
):
    with pytest.raises(error):
        chat.moderate(session=session, by=creator, handle=handle, kind=kind, minutes=minutes)
    assert not RoomRestriction.objects.exists()
    assert events.frames == []


def test_the_host_cannot_be_muted_or_banned(session, creator, events):
    staff = UserFactory(is_staff=True)
    with pytest.raises(NotAllowed):
        chat.moderate(session=session, by=staff, handle=creator.handle, kind="ban")
    assert not RoomRestriction.objects.exists()


def test_a_viewer_cannot_moderate_even_calling_the_service(session, ana, events):
    with pytest.raises(NotAllowed):
        chat.moderate(session=session, by=ana, handle="ana", kind="unban")


def test_room_actions_check_who_sends_them(
    session, creator, ana, events, django_capture_on_commit_callbacks
):
    viewer = RoomContext(session_id=session.pk, user=ana, is_host=False, is_staff=False)
    host = RoomContext(session_id=session.pk, user=creator, is_host=True, is_staff=False)
    with django_capture_on_commit_callbacks(execute=True):
        dispatch(viewer, "chat.send", {"text": "via the room"})
    message = ChatMessage.objects.get()
    with pytest.raises(NotAllowed) as refused:
        dispatch(viewer, "chat.delete", {"message_id": message.pk})
    assert refused.value.code == "host_only"
    with pytest.raises(NotFound):
        dispatch(host, "chat.delete", {"message_id": message.pk + 1000})
    dispatch(host, "chat.delete", {"message_id": message.pk})
    dispatch(host, "moderate", {"user": "ana", "kind": "mute", "minutes": 10})
    message.refresh_from_db()
    assert message.deleted_at is not None
    assert RoomRestriction.objects.filter(user=ana, kind="mute").exists()
