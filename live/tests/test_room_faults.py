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


def hub_connection(redis_url: str, server) -> dict:
    """The room server's pub/sub connection as Redis sees it (CLIENT LIST)."""
    import redis

    name = f"live-hub-{server.process.proc.pid}"
    found = [c for c in redis.Redis.from_url(redis_url).client_list() if c["name"] == name]
    assert len(found) == 1, found
    return found[0]


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
        # with no channel well past its keep-alive interval (1 s here).
        await asyncio.sleep(5)
        idle = await asyncio.to_thread(hub_connection, room_servers.redis_url, server)
        async with later:
            hello = await later.expect("hello", timeout=5)
            await asyncio.sleep(0.4)  # past the resume grace: live delivery
            sent = await asyncio.to_thread(notice, room.pk, "still here")
            got = await later.expect("notice", timeout=5)
            after = await asyncio.to_thread(hub_connection, room_servers.redis_url, server)
            return hello, sent, got, idle, after

    hello, sent, got, idle, after = run(scenario())
    # It really sat idle past several keep-alives: the same connection since the first join,
    # subscribed to nothing, its last command our own PING; the join then used it as it was.
    assert int(idle["age"]) >= 5, idle
    assert int(idle["sub"]) == 0, idle
    assert idle["cmd"] == "ping", idle
    assert after["id"] == idle["id"], after
    assert int(after["sub"]) == 1, after
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


# -- several processes serving one room ---------------------------------------------------------


class Watch:
    """A viewer that records every event id it is handed, across its reconnects (a hello is a
    snapshot, not an event: its id only says where the stream starts). Reads never cancel a
    pending receive: each waits at most a second and the loop decides whether to go on."""

    def __init__(self, socket):
        self.socket = socket
        self.start: int | None = None  # the first hello's id
        self.ids: list[int] = []  # every event id received, in arrival order, across sockets
        self.per_socket: list[list[int]] = [[]]
        self.counts: list[int] = []

    @property
    def last_id(self) -> int:
        return max([self.start or 0, *self.ids])

    async def open(self) -> None:
        await self.socket.__aenter__()
        hello = await self.socket.expect("hello", timeout=20)
        if self.start is None:
            self.start = hello["id"]

    async def resume_on(self, socket) -> None:
        self.socket = socket
        self.per_socket.append([])
        await socket.__aenter__()
        await socket.expect("hello", timeout=20)

    async def next_event(self, timeout: float) -> dict | None:
        try:
            event = await self.socket.recv(timeout)
        except TimeoutError:
            return None
        if event["type"] != "hello":
            self.ids.append(event["id"])
            self.per_socket[-1].append(event["id"])
            if event["type"] == "viewers":
                self.counts.append(event["data"]["count"])
        return event

    async def follow(self, done, *, timeout: float = 30, stop_on_close: bool = False) -> bool:
        """Record events until done() (True) or, with stop_on_close, the socket closes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done():
            if loop.time() > deadline:
                raise AssertionError(f"stalled at {self.last_id}")
            try:
                await self.next_event(1.0)
            except ConnectionClosed:
                if stop_on_close:
                    return False
                raise
        return True

    async def count_becomes(self, want: int, timeout: float) -> float:
        """Record events until a "viewers" count equals `want`; the seconds it took."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        await self.follow(lambda: bool(self.counts) and self.counts[-1] == want, timeout=timeout)
        return loop.time() - began


class Publisher:
    """Numbered notices through the bus from a thread, as services publish, until stopped;
    then one last notice, whose id (`end`) every viewer reads up to."""

    def __init__(self, session_id: int, every: float):
        self.session_id, self.every = session_id, every
        self.sent: list[int] = []
        self.end: int | None = None
        self._stop = asyncio.Event()

    async def run(self) -> None:
        n = 0
        while not self._stop.is_set():
            self.sent.append(await asyncio.to_thread(notice, self.session_id, f"tick {n}"))
            n += 1
            await asyncio.sleep(self.every)
        self.end = await asyncio.to_thread(notice, self.session_id, "end")

    def stop(self) -> None:
        self._stop.set()

    def reached_by(self, watch: Watch):
        return lambda: self.end is not None and watch.last_id >= self.end


def test_two_processes_serve_one_room_and_a_killed_ones_viewers_resume_on_the_other(
    room, room_servers
):
    # One replay window for the test's publisher and both servers (the stream keeps the last
    # N events of whoever appended last); room for what is published while viewers reconnect.
    env = {**FAST, "LIVE_REPLAY_WINDOW": "500", "LIVE_PRESENCE_TTL_SECONDS": "3"}
    doomed, survivor = room_servers.start(**env), room_servers.start(**env)
    on_doomed = [Watch(client(doomed, room.pk)) for _ in range(6)]
    on_survivor = [Watch(client(survivor, room.pk)) for _ in range(6)]
    watcher = Watch(client(survivor, room.pk))
    returning, leaving = on_doomed[:4], on_doomed[4:]
    staying = [watcher, *on_survivor]

    async def scenario():
        loop = asyncio.get_running_loop()
        for w in [*staying, *on_doomed]:
            await w.open()
        # Both processes count into one total: 13 sockets, 6 of them on the doomed process.
        await watcher.count_becomes(13, timeout=10)
        publisher = Publisher(room.pk, every=0.04)  # ~25 events/s while everything happens
        publishing = asyncio.create_task(publisher.run())
        readers = [asyncio.create_task(w.follow(publisher.reached_by(w))) for w in on_survivor]
        # The doomed process's viewers read until their server disappears under them.
        cut = [asyncio.create_task(w.follow(lambda: False, stop_on_close=True)) for w in on_doomed]
        await asyncio.sleep(1.5)
        await asyncio.to_thread(room_servers.kill, doomed)
        killed_at = loop.time()
        assert not any(await asyncio.gather(*cut))  # each saw its connection end
        # Four come back on the other process with the last id they saw; two leave for good.
        for w in returning:
            await w.resume_on(client(survivor, room.pk, query=f"last_id={w.last_id}"))
        back_in = loop.time() - killed_at
        resumed = [asyncio.create_task(w.follow(publisher.reached_by(w))) for w in returning]
        # The dead process's 6 age out of the count (presence TTL 3 s); the 4 returners count
        # on the survivor: 7 + 4.
        fell_back_in = await watcher.count_becomes(11, timeout=15)
        # Enough events through the kill and the resume however slow the machine is (a
        # number of events, not a time: under load 25/s may be fewer).
        while len(publisher.sent) <= 100:
            await asyncio.sleep(0.05)
        publisher.stop()
        await publishing
        await asyncio.gather(*readers, *resumed, watcher.follow(publisher.reached_by(watcher)))
        await close_quietly(*(w.socket for w in [*staying, *returning]))
        return publisher.sent, publisher.end, back_in, fell_back_in

    sent, end_id, back_in, fell_back_in = run(scenario(), timeout=120)
    assert len(sent) > 100
    for w in [*staying, *returning]:
        # Every event after its hello, each once, in order, across the kill and the resume.
        got = [i for i in w.ids if i <= end_id]
        assert got == list(range(w.start + 1, end_id + 1)), (w.start, end_id, got)
        for ids in w.per_socket:
            assert ids == sorted(ids)
    for w in returning:
        assert len(w.per_socket) == 2
        assert w.per_socket[0]
        assert w.per_socket[1]
        assert w.per_socket[1][0] == w.per_socket[0][-1] + 1  # resumed exactly where it was cut
    for w in leaving:  # what they got before the kill was in order and without holes
        assert w.ids == list(range(w.start + 1, w.start + 1 + len(w.ids)))
    assert watcher.counts[-1] == 11
    print(f"back on the survivor {back_in:.2f} s after the kill; count right {fell_back_in:.1f} s")
