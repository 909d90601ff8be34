"""Room faults over real uvicorn processes, real Redis and real WebSocket clients: an idle
subscription, a killed subscription connection, hostile frames, vanished sockets and a
SIGKILLed server process."""

import asyncio

import pytest
from websockets.exceptions import ConnectionClosed

from live.room.bus import get_bus
from live.tests.conftest import reset_room, run
from live.tests.room_support import (
    client,
    close_quietly,
    events_until,
    kill_pubsub_connections,
    nested,
    next_count,
)
from live.tests.selling_support import live_session
from shopfeed.accounts.tests.factories import UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.services,
]

# Short enough for a test to wait out: the pub/sub connection's keep-alive ping, how long an
# emptied room keeps its subscription, and how long a process's viewers count without a
# heartbeat.
FAST = {
    "LIVE_PUBSUB_PING_SECONDS": "1",
    "LIVE_ROOM_LINGER_SECONDS": "0.5",
}


async def read_until_closed(socket) -> None:
    """Read whatever the server still sends until it closes the socket (raises then)."""
    while True:
        await socket.recv(5)


@pytest.fixture
def room(shop):
    session = live_session(shop)
    reset_room(session.pk)
    return session


@pytest.fixture
def ana(db):
    return UserFactory(handle="ana", display_name="Ana")


def notice(session_id: int, text: str) -> int:
    return get_bus().publish(session_id, "notice", {"text": text})


def test_the_first_join_after_the_subscription_sat_idle_gets_its_hello_and_events(
    room, room_servers
):
    server = room_servers.start(**FAST)
    first, later = client(server, room.pk), client(server, room.pk)

    async def scenario():
        async with first:
            await first.expect("hello")
        # The room empties, its subscription is dropped, and the pub/sub connection sits
        # with no channel well past its keep-alive interval.
        await asyncio.sleep(5)
        async with later:
            hello = await later.expect("hello", timeout=5)
            await asyncio.sleep(0.4)  # past the resume grace: live delivery
            sent = await asyncio.to_thread(notice, room.pk, "still here")
            got = await later.expect("notice", timeout=5)
            return hello, sent, got

    hello, sent, got = run(scenario())
    assert hello["data"]["session"]["id"] == room.pk
    assert got["id"] == sent
    assert got["data"]["text"] == "still here"


def test_a_killed_subscription_connection_recovers_and_nothing_is_lost(room, room_servers):
    server = room_servers.start(**FAST)
    staying = client(server, room.pk)

    async def scenario():
        async with staying:
            hello = await staying.expect("hello")
            await asyncio.sleep(0.4)
            before = await asyncio.to_thread(notice, room.pk, "before")
            await staying.expect("notice", text="before")
            assert await asyncio.to_thread(kill_pubsub_connections, room_servers.redis_url) >= 1
            # Published while the process has no subscription: pub/sub drops them.
            sent = [await asyncio.to_thread(notice, room.pk, f"during {n}") for n in range(3)]
            # Nothing else is published: the room must fetch what it missed by itself.
            got = await events_until(staying, lambda evs: len(evs) >= 3, timeout=10)
            resumed = client(server, room.pk, query=f"last_id={before}")
            async with resumed:
                await resumed.expect("hello")
                replayed = await events_until(resumed, lambda evs: len(evs) >= 3, timeout=5)
            after = await asyncio.to_thread(notice, room.pk, "after")
            live = await staying.expect("notice", text="after")
            return hello, before, sent, got, replayed, after, live

    _hello, _before, sent, got, replayed, after, live = run(scenario())
    assert [e["id"] for e in got] == sent
    assert [e["data"]["text"] for e in got] == ["during 0", "during 1", "during 2"]
    assert [e["id"] for e in replayed] == sent  # a client resuming by id gets them too
    assert live["id"] == after > sent[-1]


def test_deeply_nested_json_gets_an_error_and_the_socket_stays_and_leaves_cleanly(
    room, ana, room_servers
):
    server = room_servers.start(**FAST)
    watcher, hostile = client(server, room.pk), client(server, room.pk, user=ana)

    async def scenario():
        async with watcher:
            await watcher.expect("hello")
            await next_count(watcher, lambda n: n == 1, timeout=5)
            async with hostile:
                await hostile.expect("hello")
                await next_count(watcher, lambda n: n == 2, timeout=5)
                for _ in range(5):
                    await hostile.ws.send(nested(1500))
                errors = [await hostile.expect("error") for _ in range(5)]
                await hostile.send("chat.send", text="plain words")
                message = await hostile.expect("chat.message")
            back_to = await next_count(watcher, lambda n: n == 1, timeout=8)
            return errors, message, back_to

    errors, message, back_to = run(scenario())
    assert {e["data"]["code"] for e in errors} == {"too_deep"}
    assert "nested" in errors[0]["data"]["detail"]
    assert message["data"]["text"] == "plain words"
    assert back_to == 1


def test_a_socket_that_vanishes_without_a_close_frame_stops_counting(room, room_servers):
    server = room_servers.start(**FAST)
    watcher = client(server, room.pk)
    gone = [client(server, room.pk) for _ in range(3)]

    async def scenario():
        async with watcher:
            await watcher.expect("hello")
            for s in gone:
                await s.__aenter__()
                await s.expect("hello")
            await next_count(watcher, lambda n: n == 4, timeout=5)
            for s in gone:
                s.ws.transport.abort()  # no close frame, the TCP connection just ends
            return await next_count(watcher, lambda n: n == 1, timeout=8)

    assert run(scenario()) == 1


def test_viewers_of_a_killed_process_age_out_of_the_count_seen_elsewhere(room, room_servers):
    doomed, survivor = room_servers.start(**FAST), room_servers.start(**FAST)
    watcher = client(survivor, room.pk)
    held = [client(doomed, room.pk) for _ in range(5)]

    async def scenario():
        async with watcher:
            await watcher.expect("hello")
            for s in held:
                await s.__aenter__()
                await s.expect("hello")
            await next_count(watcher, lambda n: n == 6, timeout=8)
            await asyncio.to_thread(room_servers.kill, doomed)
            loop = asyncio.get_running_loop()
            killed_at = loop.time()
            count = await next_count(watcher, lambda n: n == 1, timeout=12)
            aged_out_in = loop.time() - killed_at
            for s in held:  # their server is gone: whatever was buffered, then the end
                with pytest.raises(ConnectionClosed):
                    await read_until_closed(s)
            await close_quietly(*held)
            return count, aged_out_in

    count, aged_out_in = run(scenario())
    assert count == 1
    assert aged_out_in < 10  # the presence TTL (5 s) plus a tick or two
