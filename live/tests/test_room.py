"""The room over a real ASGI server (uvicorn), real WebSocket clients and the Redis bus."""

import asyncio
import itertools
import time

import pytest
from rest_framework.authtoken.models import Token
from websockets.exceptions import ConnectionClosed, InvalidStatus

from live.models import ChatMessage, LiveSession, RoomRestriction
from live.room.bus import RedisBus, get_bus
from live.room.presence import distinct_viewers
from live.tests.conftest import reset_room, run
from live.tests.selling_support import live_session, product_with_variant
from shopfeed.accounts.tests.factories import UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.services,
]


@pytest.fixture
def product(shop):
    return product_with_variant(shop, title="Glow serum")[0]


@pytest.fixture
def room(shop, product):
    session = live_session(shop, product)
    reset_room(session.pk)
    return session


@pytest.fixture
def ana(db):
    return UserFactory(handle="ana", display_name="Ana")


@pytest.fixture
def ben(db):
    return UserFactory(handle="ben", display_name="Ben")


def chat_texts(session, *, count: int = 0) -> list[str]:
    """The session's stored messages, oldest first. Messages are stored in batches a moment
    after they are shown: wait until `count` are stored, or (for none) for a few batches."""
    deadline = time.monotonic() + (5 if count else 1.5)
    while True:
        texts = list(
            ChatMessage.objects.filter(session=session)
            .order_by("event_id")
            .values_list("text", flat=True)
        )
        if (count and len(texts) >= count) or time.monotonic() > deadline:
            return texts
        time.sleep(0.1)


def test_two_viewers_see_each_others_chat_and_the_hosts_pin(
    room, product, ana, ben, creator, ws_connect
):
    a, b = ws_connect(room.pk, user=ana), ws_connect(room.pk, user=ben)
    host = ws_connect(room.pk, user=creator)

    async def scenario():
        async with a, b, host:
            hellos = [await c.expect("hello") for c in (a, b, host)]
            await a.send("chat.send", text="hi from Ana")
            await b.expect("chat.message", text="hi from Ana")
            await b.send("chat.send", text="hi Ana, Ben here")
            await b.expect("chat.message", text="hi Ana, Ben here")
            await a.expect("chat.message", text="hi from Ana")
            await a.expect("chat.message", text="hi Ana, Ben here")
            for _ in range(2):
                await host.expect("chat.message")
            await host.send("pin", product_id=product.pk)
            pins = [await c.expect("pin") for c in (a, b)]
            return hellos, pins

    hellos, pins = run(scenario())
    assert hellos[0]["data"]["session"]["title"] == room.title
    assert hellos[0]["data"]["session"]["host"]["handle"] == creator.handle
    assert [card["id"] for card in hellos[0]["data"]["lineup"]] == [product.pk]
    assert hellos[0]["data"]["pinned"] is None
    assert [p["data"]["product"]["title"] for p in pins] == ["Glow serum", "Glow serum"]
    assert pins[0]["id"] == pins[1]["id"]  # one event, the same id for everyone
    assert chat_texts(room, count=2) == ["hi from Ana", "hi Ana, Ben here"]
    room.refresh_from_db()
    assert room.pinned_product_id == product.pk


def test_a_late_viewer_gets_the_pin_in_its_hello(room, product, creator, ana, ws_connect):
    host, late = ws_connect(room.pk, user=creator), ws_connect(room.pk, user=ana)

    async def scenario():
        async with host:
            await host.expect("hello")
            await host.send("pin", product_id=product.pk)
            await host.expect("pin")
        async with late:
            return await late.expect("hello")

    hello = run(scenario())
    assert hello["data"]["pinned"]["id"] == product.pk
    assert hello["data"]["last_id"] == hello["id"] >= 1


def test_an_anonymous_socket_watches_but_cannot_chat(room, ana, ws_connect):
    anon, ana_socket = ws_connect(room.pk), ws_connect(room.pk, user=ana)

    async def scenario():
        async with anon, ana_socket:
            await anon.expect("hello")
            await ana_socket.expect("hello")
            await anon.send("chat.send", text="let me in", ref="a1")
            error = await anon.expect("error")
            await ana_socket.send("chat.send", text="visible to all")
            seen = await anon.expect("chat.message")
            return error, seen

    error, seen = run(scenario())
    assert error["data"] == {
        "code": "login_required",
        "detail": "Log in to do that.",
        "ref": "a1",
    }
    assert "id" not in error  # errors go to one socket and are not room events
    assert seen["data"]["text"] == "visible to all"  # the socket stayed open
    assert chat_texts(room, count=1) == ["visible to all"]


def test_a_muted_viewer_is_refused_and_nothing_is_posted(room, creator, ana, ws_connect):
    RoomRestriction.objects.create(host=creator, user=ana, kind=RoomRestriction.Kind.MUTE)
    socket = ws_connect(room.pk, user=ana)

    async def scenario():
        async with socket:
            await socket.expect("hello")
            await socket.send("chat.send", text="can you hear me", ref="m1")
            return await socket.expect("error"), await socket.quiet(0.5)

    error, after = run(scenario())
    assert error["data"]["code"] == "muted"
    assert "muted" in error["data"]["detail"]
    assert error["data"]["ref"] == "m1"
    assert after == []
    assert chat_texts(room) == []


def test_chat_rate_limit_is_hit_then_recovers_after_the_window(room, ana, ws_connect):
    socket = ws_connect(room.pk, user=ana)  # the server allows 3 messages per 2 s (ROOM_ENV)

    async def scenario():
        async with socket:
            await socket.expect("hello")
            # 7 at once: whichever way they fall across windows, some must be refused.
            for n in range(7):
                await socket.send("chat.send", text=f"spam {n}", ref=str(n))
            outcomes = []
            while len(outcomes) < 7:
                event = await socket.recv()
                if event["type"] in ("chat.message", "error"):
                    outcomes.append(event)
            await asyncio.sleep(2.1)
            await socket.send("chat.send", text="calm again", ref="later")
            return outcomes, await socket.expect("chat.message")

    outcomes, later = run(scenario())
    accepted = [e["data"]["text"] for e in outcomes if e["type"] == "chat.message"]
    refused = [e["data"] for e in outcomes if e["type"] == "error"]
    assert 3 <= len(accepted) <= 6
    assert len(refused) == 7 - len(accepted)
    assert {r["code"] for r in refused} == {"rate_limited"}
    assert "at most 3 messages every 2 seconds" in refused[0]["detail"]
    assert later["data"]["text"] == "calm again"  # the socket stayed open, the limit lifted
    assert chat_texts(room, count=len(accepted) + 1) == [*accepted, "calm again"]


def test_reconnect_with_the_last_id_gets_exactly_the_missed_events_in_order(
    room, ana, ben, ws_connect
):
    cy = UserFactory(handle="cy")
    first, ben_socket = ws_connect(room.pk, user=ana), ws_connect(room.pk, user=ben)
    cy_socket, again = ws_connect(room.pk, user=cy), ws_connect(room.pk, user=ana)

    async def scenario():
        async with ben_socket, cy_socket:
            await ben_socket.expect("hello")
            await cy_socket.expect("hello")
            async with first:
                await first.expect("hello")
                await ben_socket.send("chat.send", text="before the drop")
                await ben_socket.expect("chat.message", text="before the drop")
                last_seen = (await first.expect("chat.message"))["id"]
            for text in ("missed 1", "missed 2", "missed 3"):
                await cy_socket.send("chat.send", text=text)
                await ben_socket.expect("chat.message", text=text)
            async with again:
                await again.ws.send(f'{{"action": "resume", "last_id": {last_seen}}}')
                hello = await again.expect("hello")
                caught_up = []
                while not any(e["type"] == "chat.message" and e["data"]["text"] == "missed 3"
                              for e in caught_up):  # fmt: skip
                    caught_up.append(await again.recv())
                await ben_socket.send("chat.send", text="live again")
                while (event := await again.recv())["type"] in ("viewers",):
                    caught_up.append(event)
                return last_seen, hello, caught_up, event

    last_seen, hello, caught_up, live = run(scenario())
    ids = [e["id"] for e in caught_up]
    # Exactly the events after last_seen, every one of them (viewer counts included), in order.
    assert ids == list(range(last_seen + 1, last_seen + 1 + len(ids)))
    assert [e["data"]["text"] for e in caught_up if e["type"] == "chat.message"] == [
        "missed 1",
        "missed 2",
        "missed 3",
    ]
    replayed = get_bus().replay(room.pk, last_seen)
    assert ids == [int(f.split('"id":')[1].split(",")[0]) for f in replayed][: len(ids)]
    assert hello["id"] >= ids[-1] if ids else True
    assert live["type"] == "chat.message"
    assert live["data"]["text"] == "live again"
    assert live["id"] > ids[-1]


def test_a_resume_past_the_replay_window_gets_a_resync_and_a_fresh_hello(
    room, ana, ws_connect, redis_url
):
    bus = RedisBus(redis_url, window=50)  # as the server keeps them (ROOM_ENV)
    for n in range(60):
        bus.publish(room.pk, "notice", {"text": f"n{n}"})
    socket = ws_connect(room.pk, user=ana, query="last_id=1")

    async def scenario():
        async with socket:
            first = await socket.expect("hello")
            return first, await socket.expect("resync"), await socket.expect("hello")

    _first, resync, fresh = run(scenario())
    assert "no longer kept" in resync["data"]["reason"]
    assert fresh["data"]["last_id"] == bus.last_id(room.pk)


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("pin", {"product_id": None}),
        ("session.end", {}),
        ("moderate", {"user": "ben", "kind": "ban"}),
        ("chat.delete", {"message_id": None}),
        ("deal.start", {"product_id": None, "price_amount": 100, "quantity": 5,
                        "duration_seconds": 60}),
    ],
)  # fmt: skip
def test_a_viewers_forged_host_command_is_refused_and_changes_nothing(
    room, product, ana, ben, action, payload, ws_connect
):
    message = ChatMessage.objects.create(session=room, user=ben, text="keep me")
    payload = {k: (product.pk if k == "product_id" else v) for k, v in payload.items()}
    if "message_id" in payload:
        payload["message_id"] = message.pk
    socket = ws_connect(room.pk, user=ana)

    async def scenario():
        async with socket:
            await socket.expect("hello")
            # Whatever the client claims about itself, the server decides who the host is.
            await socket.send(action, ref="forged", is_host=True, host=True, **payload)
            return await socket.expect("error"), await socket.quiet(0.5)

    error, after = run(scenario())
    assert error["data"]["code"] == "host_only"
    assert error["data"]["ref"] == "forged"
    assert after == []
    room.refresh_from_db()
    message.refresh_from_db()
    assert room.status == LiveSession.Status.LIVE
    assert room.pinned_product_id is None
    assert message.deleted_at is None
    assert not RoomRestriction.objects.exists()
    assert not room.deals.exists()


def test_bad_frames_get_an_error_and_the_socket_stays_open(room, ana, ws_connect):
    socket = ws_connect(room.pk, user=ana)

    async def scenario():
        async with socket:
            await socket.expect("hello")
            await socket.ws.send("{not json")
            await socket.send("dance", ref="d")
            await socket.send("chat.send", text="x" * 5000)
            await socket.ws.send(b"\x00binary")
            errors = [await socket.expect("error") for _ in range(4)]
            await socket.send("chat.send", text="still here")
            return errors, await socket.expect("chat.message")

    errors, message = run(scenario())
    assert [e["data"]["code"] for e in errors] == [
        "bad_json",
        "unknown_action",
        "too_large",
        "bad_frame",
    ]
    assert errors[1]["data"]["ref"] == "d"
    assert message["data"]["text"] == "still here"


def test_a_socket_from_another_origin_is_refused(room, ana, ws_connect):
    socket = ws_connect(room.pk, user=ana, origin="http://evil.example")

    async def scenario():
        async with socket:
            pass

    with pytest.raises(InvalidStatus) as refused:
        run(scenario())
    assert refused.value.response.status_code == 403


def test_a_socket_without_origin_or_token_is_refused(room, ana, ws_connect):
    socket = ws_connect(room.pk, user=ana, origin=None)

    async def scenario():
        async with socket:
            pass

    with pytest.raises(InvalidStatus):
        run(scenario())


def test_an_api_client_chats_with_its_token(room, ana, ws_connect):
    # A token in the URL is refused (live/tests/test_ws_security.py): tickets replace it.
    token = Token.objects.create(user=ana).key
    socket = ws_connect(room.pk, token=token, origin=None)

    async def scenario():
        async with socket:
            await socket.expect("hello")
            await socket.send("chat.send", text="from the app")
            return await socket.expect("chat.message")

    message = run(scenario())
    assert message["data"]["user"]["handle"] == "ana"
    assert chat_texts(room, count=1) == ["from the app"]
    assert ChatMessage.objects.get(session=room).user == ana


def test_an_unknown_token_is_refused(room, ws_connect):
    socket = ws_connect(room.pk, token="not-a-real-token", origin=None)

    async def scenario():
        async with socket:
            pass

    with pytest.raises(InvalidStatus):
        run(scenario())


def test_a_banned_user_is_refused_at_connect(room, creator, ana, ws_connect):
    RoomRestriction.objects.create(host=creator, user=ana, kind=RoomRestriction.Kind.BAN)
    socket = ws_connect(room.pk, user=ana)

    async def scenario():
        async with socket:
            error = await socket.recv()
            with pytest.raises(ConnectionClosed) as closed:
                await socket.recv()
            return error, closed.value.rcvd.code

    error, code = run(scenario())
    assert error["type"] == "error"
    assert error["data"]["code"] == "banned"
    assert code == 4003
    assert distinct_viewers(room.pk) == 0


def test_a_hosts_ban_closes_the_viewers_open_socket(room, creator, ana, ws_connect):
    host, viewer = ws_connect(room.pk, user=creator), ws_connect(room.pk, user=ana)

    async def scenario():
        async with host, viewer:
            await host.expect("hello")
            await viewer.expect("hello")
            await host.send("moderate", user="ana", kind="ban")
            told = await host.expect("moderation")

            async def read_until_closed():
                while True:
                    await viewer.recv()

            with pytest.raises(ConnectionClosed) as closed:
                await read_until_closed()
            return told, closed.value.rcvd

    told, close = run(scenario())
    assert told["data"] == {"user": "ana", "kind": "ban", "until": None}
    assert close.code == 4003
    assert "banned" in close.reason
    assert RoomRestriction.objects.filter(user=ana, kind="ban").exists()


def test_viewers_are_counted_once_each_and_the_count_is_published_at_most_every_second(
    room, ana, ben, ws_connect
):
    watcher = ws_connect(room.pk)
    sockets = [ws_connect(room.pk, user=ana), ws_connect(room.pk, user=ana)]
    sockets.append(ws_connect(room.pk, user=ben))

    async def scenario():
        async with watcher:
            await watcher.expect("hello")
            for s in sockets:  # one by one: the count changes several times
                await s.__aenter__()
                await s.expect("hello")
                await asyncio.sleep(0.3)
            counts = []
            while not counts or counts[-1]["data"]["count"] < 4:
                counts.append(await watcher.expect("viewers", timeout=5))
            for s in sockets:
                await s.__aexit__(None, None, None)
            return counts

    counts = run(scenario())
    assert counts[-1]["data"]["count"] == 4  # sockets on air
    gaps = [b["ts"] - a["ts"] for a, b in itertools.pairwise(counts)]
    assert all(gap >= 950 for gap in gaps), gaps
    assert distinct_viewers(room.pk) == 3
    # Written to the row in batches (LIVE_VIEWERS_PERSIST_SECONDS), not per viewer.
    deadline = time.monotonic() + 8
    while True:
        room.refresh_from_db()
        if (room.total_viewers, room.peak_viewers) == (3, 4) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert room.total_viewers == 3
    assert room.peak_viewers == 4


def test_an_unknown_session_is_refused(ana, ws_connect, redis_url):
    socket = ws_connect(999_999, user=ana)

    async def scenario():
        async with socket:
            error = await socket.recv()
            with pytest.raises(ConnectionClosed) as closed:
                await socket.recv()
            return error, closed.value.rcvd.code

    error, code = run(scenario())
    assert error["data"]["code"] == "not_found"
    assert code == 4404


def test_runaway_nesting_and_nul_characters_get_an_error_and_the_socket_stays_open(
    room, ana, ws_connect
):
    socket = ws_connect(room.pk, user=ana)

    async def scenario():
        async with socket:
            await socket.expect("hello")
            await socket.ws.send("[" * 4000)
            await socket.send("chat.send", text="a\x00b")
            errors = [await socket.expect("error") for _ in range(2)]
            await socket.send("chat.send", text="still here")
            return errors, await socket.expect("chat.message")

    errors, message = run(scenario())
    assert [e["data"]["code"] for e in errors] == ["too_deep", "bad_json"]
    assert message["data"]["text"] == "still here"
