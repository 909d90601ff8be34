"""The room hub's delivery rules, on stand-in sockets (the real server is in test_room.py)."""

import asyncio
import json

import pytest
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from live.room import hub as hub_module
from live.room.bus import MemoryBus
from live.room.hub import CLOSE_TOO_SLOW, LIVE, Event, Hub, RoomSocket


class Transport:
    def __init__(self):
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.chunks.append(data)

    def abort(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False


class Conn:
    extensions: list = []


class UvicornSocket(WebSocketsSansIOProtocol):
    """uvicorn's protocol object, reduced to what the hub touches."""

    def __init__(self):  # no super(): no server behind it
        self.conn = Conn()
        self.transport = Transport()
        self.writable = asyncio.Event()
        self.writable.set()
        self.close_sent = False
        self.disconnected = False
        self.closes: list[dict] = []

    async def send(self, message):
        self.closes.append(message)


class OtherServerSocket:
    """Any other ASGI server: a send() that blocks while `open` is cleared."""

    def __init__(self):
        self.open = asyncio.Event()
        self.open.set()
        self.messages: list[dict] = []

    async def send(self, message):
        await self.open.wait()
        self.messages.append(message)


def texts(chunks: list[bytes]) -> list[str]:
    """The text frames in what was written (server frames: unmasked)."""
    data, out = b"".join(chunks), []
    while data:
        n, start = data[1] & 0x7F, 2
        if n == 126:
            n, start = int.from_bytes(data[2:4], "big"), 4
        out.append(data[start : start + n].decode())
        data = data[start + n :]
    return out


def frame(event_id: int, text: str = "x") -> str:
    data = json.dumps({"text": text})
    return f'{{"type":"notice","id":{event_id},"ts":1,"data":{data}}}'


def join(hub: Hub, send, session_id: int = 1, *, synced: int = 0) -> RoomSocket:
    sock = RoomSocket(session_id=session_id, send=send)
    hub.attach(sock)
    hub.rooms[session_id].last_id = synced
    sock.synced_upto = synced
    hub.activate(sock)
    return sock


def run(coro):
    return asyncio.run(coro)


def test_each_event_is_written_to_every_socket_as_the_same_bytes():
    async def scenario():
        hub = Hub(asyncio.get_running_loop())
        protos = [UvicornSocket() for _ in range(3)]
        socks = [join(hub, p.send) for p in protos]
        hub.on_frames(1, [frame(1, "héllo"), frame(2, "x" * 200)])
        return protos, socks

    protos, socks = run(scenario())
    assert all(s.proto is not None and s.state is LIVE for s in socks)
    assert protos[0].transport.chunks == protos[1].transport.chunks == protos[2].transport.chunks
    assert [json.loads(t)["data"]["text"] for t in texts(protos[0].transport.chunks)] == [
        "héllo",
        "x" * 200,
    ]


def test_a_backpressured_socket_catches_up_in_order_without_holding_up_the_others():
    async def scenario():
        hub = Hub(asyncio.get_running_loop())
        slow, fast = UvicornSocket(), UvicornSocket()
        join(hub, slow.send), join(hub, fast.send)
        slow.writable.clear()
        for n in range(1, 4):
            hub.on_frame(1, frame(n))
        before = (texts(slow.transport.chunks), texts(fast.transport.chunks))
        slow.writable.set()
        await asyncio.sleep(0.01)
        return before, texts(slow.transport.chunks)

    (slow_before, fast_before), slow_after = run(scenario())
    assert slow_before == []
    assert [json.loads(t)["id"] for t in fast_before] == [1, 2, 3]
    assert [json.loads(t)["id"] for t in slow_after] == [1, 2, 3]


def test_a_socket_too_far_behind_is_closed_so_it_resumes_by_id(settings):
    settings.LIVE_SOCKET_BACKLOG = 5

    async def scenario():
        hub = Hub(asyncio.get_running_loop())
        slow, fast = UvicornSocket(), UvicornSocket()
        slow_sock, _ = join(hub, slow.send), join(hub, fast.send)
        slow.writable.clear()
        for n in range(1, 9):
            hub.on_frame(1, frame(n))
        await asyncio.sleep(0.01)
        return slow, slow_sock, fast, hub

    slow, slow_sock, fast, hub = run(scenario())
    assert slow_sock.closed_with == CLOSE_TOO_SLOW
    assert slow.closes == [
        {"type": "websocket.close", "code": 1013, "reason": "Too far behind; reconnect and resume."}
    ]
    assert slow_sock not in hub.rooms[1].live
    assert len(texts(fast.transport.chunks)) == 8


def test_another_servers_send_is_stepped_without_a_task_until_it_blocks():
    async def scenario():
        hub = Hub(asyncio.get_running_loop())
        blocked, fine = OtherServerSocket(), OtherServerSocket()
        socks = [join(hub, blocked.send), join(hub, fine.send)]
        hub.on_frame(1, frame(1))
        blocked.open.clear()
        hub.on_frame(1, frame(2))
        hub.on_frame(1, frame(3))
        at_once = ([m["text"] for m in blocked.messages], [m["text"] for m in fine.messages])
        blocked.open.set()
        await asyncio.sleep(0.01)
        return at_once, [m["text"] for m in blocked.messages], socks

    (blocked_at_once, fine_at_once), blocked_later, socks = run(scenario())
    assert all(s.proto is None for s in socks)
    assert [json.loads(t)["id"] for t in fine_at_once] == [1, 2, 3]  # no await needed
    assert [json.loads(t)["id"] for t in blocked_at_once] == [1]
    assert [json.loads(t)["id"] for t in blocked_later] == [1, 2, 3]


def test_a_held_socket_gets_what_came_meanwhile_once_and_in_order():
    async def scenario():
        hub = Hub(asyncio.get_running_loop())
        proto = UvicornSocket()
        sock = RoomSocket(session_id=1, send=proto.send)
        hub.attach(sock)
        hub.rooms[1].last_id = 4
        hub.on_frames(1, [frame(5), frame(6), frame(7)])
        sock.synced_upto = 5  # its snapshot (or a replay) already covered event 5
        sent_while_held = list(proto.transport.chunks)
        hub.activate(sock)
        hub.on_frame(1, frame(8))
        return sent_while_held, texts(proto.transport.chunks)

    held, sent = run(scenario())
    assert held == []
    assert [json.loads(t)["id"] for t in sent] == [6, 7, 8]


def test_duplicates_are_dropped_and_a_gap_is_filled_from_the_replay_window(monkeypatch):
    bus = MemoryBus(window=100)
    for n in range(1, 6):
        bus.publish(1, "notice", {"text": str(n)})
    monkeypatch.setattr(hub_module, "get_bus", lambda: bus)
    replayed = bus.replay(1, 0)

    async def scenario():
        hub = Hub(asyncio.get_running_loop())
        proto = UvicornSocket()
        join(hub, proto.send)
        hub.on_frame(1, replayed[0])
        hub.on_frame(1, replayed[0])  # again
        hub.on_frame(1, replayed[3])  # 2 and 3 went missing
        hub.on_frame(1, replayed[4])
        await asyncio.sleep(0.1)
        hub.on_frame(1, replayed[2])  # a latecomer, already handed out
        return texts(proto.transport.chunks)

    sent = run(scenario())
    assert [json.loads(t)["id"] for t in sent] == [1, 2, 3, 4, 5]


def test_a_ban_closes_that_viewers_sockets_only():
    async def scenario():
        hub = Hub(asyncio.get_running_loop())
        banned, other = UvicornSocket(), UvicornSocket()
        banned_sock = RoomSocket(session_id=1, send=banned.send, handle="Ana")
        other_sock = RoomSocket(session_id=1, send=other.send, handle="ben")
        for sock in (banned_sock, other_sock):
            hub.attach(sock)
            hub.activate(sock)
        hub.rooms[1].last_id = 0
        hub.on_frame(1, '{"type":"moderation","id":1,"ts":1,"data":{"user":"ana","kind":"ban"}}')
        await asyncio.sleep(0.01)
        return banned, banned_sock, other_sock

    banned, banned_sock, other_sock = run(scenario())
    assert banned_sock.closed_with == 4003
    assert banned.closes[0]["code"] == 4003
    assert other_sock.state is LIVE


@pytest.mark.parametrize("text", ['{"type":"x","id":42,"ts":1,"data":{"id":7}}'])
def test_frame_ids_are_read_without_decoding(text):
    assert hub_module.frame_id(text) == 42
    assert Event(text).raw[2:] == text.encode()


@pytest.fixture
def memory_bus(settings):
    """No Redis: the embedded default of `make run` (one process, MemoryBus)."""
    from live.room.bus import get_bus

    settings.REDIS_URL = ""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    get_bus.cache_clear()
    yield get_bus()
    get_bus.cache_clear()
    hub_module._hub = None


@pytest.mark.django_db(transaction=True)
def test_without_redis_the_room_works_inside_one_process(memory_bus, shop):
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.db import connections
    from django.test import Client

    from live.tests.selling_support import live_session
    from shopfeed.accounts.tests.factories import UserFactory
    from shopfeed.asgi import application

    session = live_session(shop)
    user = UserFactory(handle="solo")
    client = Client()
    client.force_login(user)
    headers = [
        (b"origin", b"http://testserver"),
        (b"host", b"testserver"),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
    ]
    path = f"/ws/live/{session.pk}/"

    async def scenario():
        viewer = WebsocketCommunicator(
            application, path, headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")]
        )
        chatter = WebsocketCommunicator(application, path, headers=headers)
        for c in (viewer, chatter):
            connected, _ = await c.connect()
            assert connected
            assert json.loads(await c.receive_from())["type"] == "hello"
        await chatter.send_to(text_data=json.dumps({"action": "chat.send", "text": "no redis"}))
        got = []
        while len(got) < 1:
            event = json.loads(await viewer.receive_from(timeout=5))
            if event["type"] == "chat.message":
                got.append(event)
        for c in (viewer, chatter):
            await c.disconnect()
        # The consumer's database thread and the hub's keep their connections; close them
        # before teardown.
        await database_sync_to_async(connections.close_all)()
        await hub_module.get_hub().upkeep.shutdown()
        return got

    got = asyncio.run(scenario())
    assert got[0]["data"]["text"] == "no redis"
    assert got[0]["id"] == 1


def test_client_frames_deeper_than_the_limit_are_refused_before_parsing():
    from live.room.frames import MAX_DEPTH, BadFrame, parse_client_frame

    def frame(depth: int) -> str:
        return '{"action":"x","v":' + "[" * (depth - 1) + "]" * (depth - 1) + "}"

    assert parse_client_frame(frame(MAX_DEPTH))["action"] == "x"
    with pytest.raises(BadFrame) as refused:
        parse_client_frame(frame(MAX_DEPTH + 1))
    assert refused.value.code == "too_deep"
    # Brackets inside strings are text, not nesting.
    text = '{"action":"chat.send","text":"' + "[{" * 60 + '\\"]"}'
    assert parse_client_frame(text)["text"].startswith("[{[{")
