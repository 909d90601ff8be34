"""A room whose chat runs faster than a screen can show, over real uvicorn processes, Redis,
PostgreSQL and WebSocket clients (live/chat/batching.py): chat comes in batches, above the
room's budget each viewer sees a sample while senders see all of their own, commerce events
reach everyone, and resuming by id after a batch gives exactly what was missed."""

import asyncio
import time

import pytest

from live.room.bus import get_bus
from live.tests.conftest import reset_room, run
from live.tests.room_support import client, close_quietly
from live.tests.selling_support import live_session, product_with_variant
from live.tests.test_room_busy import stored_texts
from shopfeed.accounts.tests.factories import UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.services,
]

# Chatters here send far faster than a person: let the per-user limit through.
FAST_CHAT = {"LIVE_CHAT_RATE": "100", "LIVE_CHAT_RATE_WINDOW": "1"}


@pytest.fixture
def room(shop):
    product = product_with_variant(shop, title="Glow serum")[0]
    session = live_session(shop, product)
    reset_room(session.pk)
    return session


class Reader:
    """Reads a socket in the background: every event (chat batches unpacked) and frame."""

    def __init__(self, socket):
        self.socket = socket
        self.events: list[dict] = []
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        while True:
            try:
                self.events.append(await self.socket.recv(30))
            except TimeoutError:
                continue

    async def stop_when_quiet(self, quiet: float = 1.0) -> None:
        count = -1
        while count != len(self.events):
            count = len(self.events)
            await asyncio.sleep(quiet)
        self.task.cancel()

    def chats(self) -> list[dict]:
        return [e for e in self.events if e["type"] == "chat.message"]

    def of_type(self, type_: str) -> list[dict]:
        return [e for e in self.events if e["type"] == type_]


def frame_ids_increase(frames: list[dict]) -> bool:
    """Every frame's ids come after the previous frame's (a batch covers from..id)."""
    last = 0
    for frame in frames:
        if "id" not in frame or frame["type"] == "hello":
            last = frame.get("id", last)
            continue
        first = frame["data"]["from"] if frame["type"] == "chat.batch" else frame["id"]
        if first <= last:
            return False
        last = frame["id"]
    return True


async def publish_purchases(session_id: int, count: int, every: float) -> None:
    bus = get_bus()
    for n in range(count):
        data = {"count": 1, "buyers": [f"buyer{n}"], "product_titles": ["Glow serum"], "n": n}
        await asyncio.to_thread(bus.publish, session_id, "purchase", data)
        await asyncio.sleep(every)


def test_above_the_budget_viewers_see_a_sample_senders_see_theirs_and_purchases_reach_all(
    room, room_servers
):
    budget, seconds, chatters, per_chatter = 10, 3.0, 10, 24  # 80 messages/s offered
    server = room_servers.start(
        LIVE_CHAT_SHOWN_PER_SECOND=str(budget), LIVE_CHAT_SHOWN_BURST=str(budget), **FAST_CHAT
    )
    users = [UserFactory(handle=f"flood{n}") for n in range(chatters)]
    senders = [client(server, room.pk, user=u) for u in users]
    viewers = [client(server, room.pk) for _ in range(4)]

    async def scenario():
        sockets = [*senders, *viewers]
        await asyncio.gather(*(s.__aenter__() for s in sockets))
        await asyncio.gather(*(s.expect("hello", timeout=20) for s in sockets))
        await asyncio.sleep(0.5)  # past the resume grace: live delivery
        readers = [Reader(s) for s in sockets]
        for r in readers:
            r.start()

        async def chatter(n, s):
            for m in range(per_chatter):
                await s.send("chat.send", text=f"f{n}-{m}")
                await asyncio.sleep(seconds / per_chatter)

        started = time.monotonic()
        await asyncio.gather(
            *(chatter(n, s) for n, s in enumerate(senders)),
            publish_purchases(room.pk, 30, seconds / 30),
        )
        took = time.monotonic() - started
        await asyncio.gather(*(r.stop_when_quiet() for r in readers))
        await close_quietly(*sockets)
        return readers, took

    readers, took = run(scenario(), timeout=120)
    offered = chatters * per_chatter
    for r in readers:
        assert [e["data"]["n"] for e in r.of_type("purchase")] == list(range(30))
        assert not r.of_type("error"), r.of_type("error")
        assert frame_ids_increase(r.socket.frames)
    for n, r in enumerate(readers[:chatters]):
        own = {e["data"]["text"] for e in r.chats() if e["data"]["text"].startswith(f"f{n}-")}
        assert own == {f"f{n}-{m}" for m in range(per_chatter)}
    ceiling = budget + budget * (took + 1.0)  # the burst, then the rate while chat flowed
    for r in readers[chatters:]:
        shown = len(r.chats())
        assert budget <= shown <= ceiling, (shown, ceiling, offered)
        assert any(f["type"] == "chat.batch" and f["data"]["omitted"] for f in r.socket.frames)
    assert len(stored_texts(room, offered, within=10)) == offered
    print(f"{offered} chats offered in {took:.1f} s; shown per viewer: "
          f"{[len(r.chats()) for r in readers[chatters:]]}")  # fmt: skip


def test_below_the_budget_every_viewer_gets_every_message_in_fewer_frames(room, room_servers):
    server = room_servers.start(**FAST_CHAT)  # the default budget: 60 a second, 120 saved up
    users = [UserFactory(handle=f"calm{n}") for n in range(10)]
    senders = [client(server, room.pk, user=u) for u in users]
    viewers = [client(server, room.pk) for _ in range(3)]

    async def scenario():
        sockets = [*senders, *viewers]
        await asyncio.gather(*(s.__aenter__() for s in sockets))
        await asyncio.gather(*(s.expect("hello", timeout=20) for s in sockets))
        await asyncio.sleep(0.5)
        readers = [Reader(s) for s in sockets]
        for r in readers:
            r.start()
        for m in range(5):  # 10 messages at once, five times: 50 in all
            await asyncio.gather(*(s.send("chat.send", text=f"c{n}-{m}") for n, s in
                                   enumerate(senders)))  # fmt: skip
            await asyncio.sleep(0.3)
        await asyncio.gather(*(r.stop_when_quiet() for r in readers))
        await close_quietly(*sockets)
        return readers

    readers = run(scenario(), timeout=90)
    expected = {f"c{n}-{m}" for n in range(10) for m in range(5)}
    for r in readers:
        texts = [e["data"]["text"] for e in r.chats()]
        assert sorted(texts) == sorted(expected)  # each once
        chat_frames = [f for f in r.socket.frames if f["type"] in ("chat.message", "chat.batch")]
        assert len(chat_frames) < len(expected)
        assert all(f["data"].get("omitted", 0) == 0 for f in chat_frames)
        assert frame_ids_increase(r.socket.frames)


def test_resuming_from_a_batch_id_gives_exactly_the_events_missed(room, room_servers):
    server = room_servers.start(**FAST_CHAT)
    users = [UserFactory(handle=f"res{n}") for n in range(5)]
    senders = [client(server, room.pk, user=u) for u in users]
    watcher = client(server, room.pk)

    async def burst(tag: str) -> None:
        await asyncio.gather(*(s.send("chat.send", text=f"{tag}{n}") for n, s in
                               enumerate(senders)))  # fmt: skip

    async def scenario():
        await asyncio.gather(*(s.__aenter__() for s in [*senders, watcher]))
        await asyncio.gather(*(s.expect("hello", timeout=20) for s in [*senders, watcher]))
        await asyncio.sleep(0.5)
        await burst("a")
        await burst("b")
        got = []
        while not any(f["type"] == "chat.batch" for f in watcher.frames) or len(got) < 10:
            event = await watcher.recv(10)
            if event["type"] == "chat.message":
                got.append(event["data"]["text"])
        last_batch = [f for f in watcher.frames if f["type"] == "chat.batch"][-1]
        # The watcher has everything up to the frame it last read (a batch, or after it).
        resume_from = watcher.frames[-1]["id"]
        await watcher.ws.close()
        await burst("c")  # while it is away
        await asyncio.to_thread(
            get_bus().publish, room.pk, "purchase", {"count": 1, "buyers": ["x"], "n": 0}
        )
        await burst("d")
        await asyncio.sleep(0.5)
        bus_last = await asyncio.to_thread(get_bus().last_id, room.pk)
        back = client(server, room.pk, query=f"last_id={resume_from}")
        async with back:
            await back.expect("hello", timeout=10)
            missed = []
            while not missed or missed[-1]["id"] < bus_last:
                missed.append(await back.recv(10))
        await close_quietly(*senders)
        return last_batch, resume_from, bus_last, missed

    last_batch, resume_from, bus_last, missed = run(scenario(), timeout=90)
    assert last_batch["data"]["from"] < last_batch["id"]  # several messages in that frame
    ids = [e["id"] for e in missed]
    assert ids == list(range(resume_from + 1, bus_last + 1))  # each once, in order, none missing
    texts = {e["data"]["text"] for e in missed if e["type"] == "chat.message"}
    assert {f"c{n}" for n in range(5)} | {f"d{n}" for n in range(5)} <= texts
    assert not {f"a{n}" for n in range(5)} & texts
    assert [e["type"] for e in missed].count("purchase") == 1
