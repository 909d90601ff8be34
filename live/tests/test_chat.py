"""Chat and moderation services (live/chat/), without sockets: the checks made from the room's
cached state, the Redis script that rate-limits, publishes and logs a message, the drain that
stores the log in PostgreSQL, and moderation."""

import asyncio
import json
import re
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from live.chat import log as chat_log
from live.chat import services as chat
from live.models import BlockedWord, ChatMessage, LiveSession, RoomRestriction
from live.room.actions import RoomContext, dispatch
from live.room.bus import get_bus
from live.room.state import load_room_state
from live.tests.conftest import reset_room
from live.tests.selling_support import capture_room_events, live_session
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.errors import NotAllowed, NotFound, ShopFeedError


@pytest.fixture(autouse=True)
def _chat_settings(settings):
    settings.LIVE_CHAT_RATE = 3
    settings.LIVE_CHAT_RATE_WINDOW = 10
    settings.LIVE_CHAT_MAX_LENGTH = 20


@pytest.fixture
def events(monkeypatch):
    return capture_room_events(monkeypatch)


@pytest.fixture
def session(shop, redis_url):
    session = live_session(shop)
    reset_room(session.pk)
    return session


@pytest.fixture
def ana(db):
    return UserFactory(handle="ana", display_name="Ana")


def send(session, user, text, *, state=None) -> int:
    """Post through the real Redis script, as the room does (one round trip, no database)."""
    import redis.asyncio as aioredis

    state = state or load_room_state(session.pk)

    async def post():
        client = aioredis.Redis.from_url(get_bus().url)
        try:
            log = chat_log.RedisChatLog(client)
            return await chat.send_message(log=log, state=state, user=user, text=text)
        finally:
            await client.aclose()

    return asyncio.run(post())


def stored(session) -> list[tuple[int, str]]:
    chat_log.flush_chat_log(session.pk)
    return list(
        ChatMessage.objects.filter(session=session)
        .order_by("event_id")
        .values_list("event_id", "text")
    )


def published(session, type_="chat.message") -> list[dict]:
    frames = [json.loads(f) for f in get_bus().replay(session.pk, 0) or []]
    return [f for f in frames if f["type"] == type_]


def test_a_message_is_published_with_its_event_id_and_stored_in_the_next_batch(session, ana):
    event_id = send(session, ana, "  hello room  ")
    assert [(e["id"], e["data"]) for e in published(session)] == [
        (event_id, {"id": event_id, "user": {"handle": "ana", "name": "Ana"}, "text": "hello room"})
    ]
    assert not ChatMessage.objects.exists()  # not yet: messages are stored in batches
    assert stored(session) == [(event_id, "hello room")]
    assert ChatMessage.objects.get().user == ana


def test_storing_the_log_twice_or_after_a_drain_died_stores_each_message_once(session, ana):
    ids = [send(session, ana, f"m{n}") for n in range(3)]
    rows = get_bus().client.xrange(chat_log.log_key(session.pk))
    chat_log._insert(session.pk, rows)  # a drain that inserted, then died before trimming
    assert stored(session) == [(i, f"m{n}") for n, i in enumerate(ids)]
    assert stored(session) == [(i, f"m{n}") for n, i in enumerate(ids)]
    assert get_bus().client.xlen(chat_log.log_key(session.pk)) == 0


def test_messages_are_still_stored_when_event_ids_start_again_after_redis_lost_its_data(
    session, ana
):
    first = send(session, ana, "before")
    assert stored(session) == [(first, "before")]
    reset_room(session.pk)  # Redis lost the session's keys: its event ids start again
    again = send(session, ana, "after")
    assert again == first
    assert sorted(text for _, text in stored(session)) == ["after", "before"]


def test_messages_posted_together_go_in_one_pipeline_even_after_redis_forgot_the_script(
    session, ana, settings
):
    import redis.asyncio as aioredis

    settings.LIVE_CHAT_RATE = 20
    users = [ana, *(UserFactory(handle=f"viewer{n}") for n in range(4))]
    state = load_room_state(session.pk)
    get_bus().client.script_flush()  # a Redis restart or SCRIPT FLUSH: no script cached

    async def post_together():
        client = aioredis.Redis.from_url(get_bus().url)
        try:
            log = chat_log.RedisChatLog(client)
            first = await asyncio.gather(
                *(
                    chat.send_message(log=log, state=state, user=u, text=f"{u.handle} 1")
                    for u in users
                )
            )
            second = await asyncio.gather(
                *(
                    chat.send_message(log=log, state=state, user=u, text=f"{u.handle} 2")
                    for u in users
                )
            )
            return first, second
        finally:
            await client.aclose()

    first, second = asyncio.run(post_together())
    ids = [*first, *second]
    assert sorted(ids) == list(range(min(ids), min(ids) + 10))  # each message once, no gap
    assert max(first) < min(second)
    texts = {e["id"]: e["data"]["text"] for e in published(session)}
    assert [texts[i] for i in ids] == [f"{u.handle} {n}" for n in (1, 2) for u in users]
    assert sorted(text for _, text in stored(session)) == sorted(texts.values())


def test_an_anonymous_visitor_cannot_post(session):
    with pytest.raises(NotAllowed) as refused:
        send(session, AnonymousUser(), "hi")
    assert refused.value.code == "login_required"
    assert published(session) == []


@pytest.mark.parametrize(
    ("text", "code"), [("", "empty"), ("   ", "empty"), (None, "empty"), ("x" * 21, "too_long")]
)
def test_blank_and_too_long_messages_are_refused_and_nothing_is_sent(session, ana, text, code):
    with pytest.raises(ShopFeedError) as refused:
        send(session, ana, text)
    assert refused.value.code == code
    if code == "too_long":
        assert "at most 20 characters" in refused.value.message
    assert published(session) == []
    assert stored(session) == []


def test_a_blocked_word_of_the_shop_is_refused_and_named(session, shop, ana):
    BlockedWord.objects.create(shop=shop, word="Scam")
    with pytest.raises(ShopFeedError) as refused:
        send(session, ana, "total SCAM, run")
    assert refused.value.code == "blocked_word"
    assert "“Scam”" in refused.value.message
    assert published(session) == []


def test_blocked_words_match_whole_words_only(session, shop, ana):
    BlockedWord.objects.create(shop=shop, word="ass")
    send(session, ana, "first class stuff")
    assert len(stored(session)) == 1


def test_another_shops_blocked_words_do_not_apply(session, other_shop, ana):
    BlockedWord.objects.create(shop=other_shop, word="scam")
    send(session, ana, "not a scam")
    assert len(stored(session)) == 1


def test_a_muted_viewer_is_refused_until_the_mute_ends(session, creator, ana):
    mute = RoomRestriction.objects.create(
        host=creator, user=ana, kind="mute", until=timezone.now() + timedelta(minutes=5)
    )
    with pytest.raises(NotAllowed) as refused:
        send(session, ana, "hello?")
    assert refused.value.code == "muted"
    assert "until" in refused.value.message
    RoomRestriction.objects.filter(pk=mute.pk).update(until=timezone.now() - timedelta(seconds=1))
    send(session, ana, "back")
    assert [text for _, text in stored(session)] == ["back"]


def test_the_cached_state_follows_the_rooms_moderation_events(session, creator, ana):
    state = load_room_state(session.pk)
    state.apply("moderation", {"user": "Ana", "kind": "mute", "until": None})
    with pytest.raises(NotAllowed) as refused:
        send(session, ana, "hello?", state=state)
    assert refused.value.code == "muted"
    assert "until" not in refused.value.message
    state.apply("moderation", {"user": "ana", "kind": "unmute"})
    send(session, ana, "back", state=state)
    state.apply("session.ended", {})
    with pytest.raises(ShopFeedError) as ended:
        send(session, ana, "too late", state=state)
    assert ended.value.code == "session_ended"


def test_a_banned_viewer_cannot_post_in_any_of_the_hosts_lives(shop, creator, ana, redis_url):
    RoomRestriction.objects.create(host=creator, user=ana, kind="ban")
    other_session = live_session(shop, title="Another day")
    with pytest.raises(NotAllowed) as refused:
        send(other_session, ana, "hi")
    assert refused.value.code == "banned"


def test_a_burst_past_the_limit_is_refused_and_says_when_to_try_again(session, ana):
    for n in range(3):
        send(session, ana, f"m{n}")
    with pytest.raises(chat.RateLimited) as refused:
        send(session, ana, "one too many")
    assert refused.value.status_code == 429
    assert "at most 3 messages every 10 seconds" in refused.value.message
    # One token every 3.3 s; the three sends took a moment of it.
    assert re.search(r"Try again in [34] s\.$", refused.value.message), refused.value.message
    assert len(stored(session)) == 3


def test_someone_writing_at_the_allowed_pace_is_never_refused(session, ana, settings):
    settings.LIVE_CHAT_RATE, settings.LIVE_CHAT_RATE_WINDOW = 2, 1  # one every 0.5 s
    for n in range(8):
        send(session, ana, f"m{n}")
        time.sleep(0.5)
    assert len(stored(session)) == 8


def test_the_rate_limit_is_per_user(session, ana):
    ben = UserFactory(handle="ben")
    for n in range(3):
        send(session, ana, f"a{n}")
    send(session, ben, "ben is fine")
    assert ChatMessage.objects.filter(user=ben).count() == 0  # stored in the next batch
    assert stored(session)[-1][1] == "ben is fine"


def test_chat_is_closed_once_the_session_has_ended(shop, ana, redis_url):
    ended = live_session(shop, status=LiveSession.Status.ENDED)
    with pytest.raises(ShopFeedError) as refused:
        send(ended, ana, "too late")
    assert refused.value.code == "session_ended"


def test_the_host_deletes_a_message_once_and_it_is_kept_for_moderation(
    session, creator, ana, events, django_capture_on_commit_callbacks
):
    message = ChatMessage.objects.create(session=session, user=ana, text="spoiler", event_id=7)
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            chat.delete_message(message=message, by=creator)
    message.refresh_from_db()
    assert message.deleted_at is not None
    assert message.deleted_by == creator
    assert events.of(session.pk, "chat.deleted") == [{"message_id": 7}]


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
    # The event carries the end, so every process's cached state applies it as it goes by.
    assert events.of(session.pk, "moderation") == [
        {"user": "ana", "kind": "mute", "until": mute.until.isoformat()},
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


def test_room_actions_check_who_sends_them(session, creator, ana, events):
    viewer = RoomContext(session_id=session.pk, user=ana, is_host=False, is_staff=False)
    host = RoomContext(session_id=session.pk, user=creator, is_host=True, is_staff=False)
    event_id = send(session, ana, "via the room")
    with pytest.raises(NotAllowed) as refused:
        dispatch(viewer, "chat.delete", {"message_id": event_id})
    assert refused.value.code == "host_only"
    with pytest.raises(NotFound):
        dispatch(host, "chat.delete", {"message_id": event_id + 1000})
    # Deleting a message sent a moment ago stores the log first: its id is its event's.
    dispatch(host, "chat.delete", {"message_id": event_id})
    dispatch(host, "moderate", {"user": "ana", "kind": "mute", "minutes": 10})
    message = ChatMessage.objects.get(event_id=event_id)
    assert message.deleted_at is not None
    assert RoomRestriction.objects.filter(user=ana, kind="mute").exists()


def test_the_beat_sweep_stores_logs_no_process_serves_any_more(session, ana):
    from live.tasks import flush_chat_logs_task

    ids = [send(session, ana, f"orphan {n}") for n in range(2)]
    for key in get_bus().client.scan_iter(match="{live:*}:chat"):  # other tests' leftovers
        if key != chat_log.log_key(session.pk).encode():
            get_bus().client.delete(key)
    assert flush_chat_logs_task() == 2
    assert list(
        ChatMessage.objects.filter(session=session).order_by("event_id").values_list(
            "event_id", flat=True)
    ) == ids  # fmt: skip
