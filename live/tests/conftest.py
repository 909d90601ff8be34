"""Fixtures for the room tests: a real ASGI server and real WebSocket clients.

`asgi_server` is uvicorn in a child process (websockets-sansio, as production runs the
WebSocket process) on a free port, with REDIS_URL (the Redis bus and cache) and the
PostgreSQL test database; it is started once per test session and shared, so the room
settings it needs come through its environment (ROOM_ENV). `ws_connect(session_id, user=...,
token=...)` gives a `websockets` client with the Origin header and the user's session cookie.
Tests run their socket part with `run(coro)` and check rows in the database around it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass

import pytest
from django.db import connection
from django.test import Client

ROOM_ENV = {
    # Small, so that a test can exceed the chat rate and see it recover quickly.
    "LIVE_CHAT_RATE": "3",
    "LIVE_CHAT_RATE_WINDOW": "2",
    "LIVE_REPLAY_WINDOW": "50",
    "LIVE_VIEWERS_PERSIST_SECONDS": "1",
    "LIVE_CHAT_FLUSH_SECONDS": "0.5",
    "LOG_LEVEL": "WARNING",
    # Gifts: a quick combo window so that streak tests end in a second or two.
    "LIVE_GIFT_RATE": "10",
    "LIVE_GIFT_RATE_WINDOW": "2",
    "LIVE_GIFT_COMBO_SECONDS": "1.2",
    "LIVE_GIFT_COMBO_UPDATE_SECONDS": "0.8",
    # Every test socket comes from 127.0.0.1; test_ws_security.py tests the limit itself.
    "WS_CONNECT_RATE": "100000/min",
}
# Events that arrive on their own schedule; helpers skip them unless asked for.
BACKGROUND = {"viewers"}


@dataclass
class Server:
    port: int
    process: object

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, session_id: int, query: str = "") -> str:
        return f"ws://127.0.0.1:{self.port}/ws/live/{session_id}/" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
def _room_servers(django_db_setup, django_db_blocker):
    """Servers started by `asgi_server`, stopped before the test database is dropped."""
    started: dict[tuple, Server] = {}
    yield started
    for server in started.values():
        server.process.stop()
    if started:
        with django_db_blocker.unblock():
            _wait_for_other_sessions_to_end()


def _wait_for_other_sessions_to_end(timeout: float = 10) -> None:
    """A stopped server's database sessions end a moment after it exits: wait for them, so
    that the test database can be dropped."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
            if not cursor.fetchone()[0]:
                return
            time.sleep(0.1)


@pytest.fixture
def asgi_server(_room_servers, redis_url, transactional_db, tmp_path_factory) -> Server:
    from shopfeed.testing import (
        Process,
        child_env,
        database_url_for_tests,
        free_port,
        wait_for_port,
    )

    if connection.vendor != "postgresql":
        pytest.skip("the ASGI server shares the test database only on PostgreSQL")
    key = (redis_url, database_url_for_tests())
    server = _room_servers.get(key)
    if server is None or server.process.proc.poll() is not None:
        port = free_port()
        log = tmp_path_factory.mktemp("live-room-server") / "uvicorn.log"
        args = [
            sys.executable, "-m", "uvicorn", "shopfeed.asgi:application",
            "--host", "127.0.0.1", "--port", str(port), "--ws", "websockets-sansio",
            "--ws-per-message-deflate", "false", "--lifespan", "off", "--log-level", "warning",
        ]  # fmt: skip
        process = Process(args, child_env(REDIS_URL=redis_url, **ROOM_ENV), log)
        try:
            wait_for_port(port, timeout=30)
        except RuntimeError:
            process.stop()
            raise RuntimeError(f"uvicorn did not start:\n{process.output()[-3000:]}") from None
        server = _room_servers[key] = Server(port=port, process=process)
    return server


@pytest.fixture
def room_servers(redis_url, transactional_db, tmp_path):
    """Room servers of the test's own: `room_servers.start(**env)` (live/tests/room_support.py)."""
    from live.tests.room_support import RoomServers

    if connection.vendor != "postgresql":
        pytest.skip("a room server shares the test database only on PostgreSQL")
    servers = RoomServers(redis_url, tmp_path)
    yield servers
    servers.stop_all()


def reset_room(session_id: int) -> None:
    """Forget what Redis holds for a session id (ids restart with each test database)."""
    from live.room.bus import get_bus

    client = get_bus().client
    for key in client.scan_iter(f"{{live:{session_id}}}*"):
        client.delete(key)


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


class RoomClient:
    """A `websockets` connection to a room, with helpers that speak the room's protocol."""

    def __init__(self, url: str, headers: dict, origin: str | None):
        self.url, self.headers, self.origin = url, headers, origin
        self.ws = None
        self.seen: list[dict] = []  # every event received, background ones included
        self.frames: list[dict] = []  # every frame as sent (a chat batch as one)
        self._unpacked: list[dict] = []  # events of a chat batch not returned yet

    async def __aenter__(self) -> RoomClient:
        from websockets.asyncio.client import connect

        self.ws = await connect(
            self.url, additional_headers=self.headers, origin=self.origin, open_timeout=10
        )
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()

    async def send(self, action: str, **payload) -> None:
        await self.ws.send(json.dumps({"action": action, **payload}))

    async def recv(self, timeout: float = 5) -> dict:
        """The next event; a "chat.batch" frame is unpacked into its chat messages, as the live
        page does (live/chat/batching.py)."""
        deadline = time.monotonic() + timeout
        while not self._unpacked:
            left = max(0.01, deadline - time.monotonic())
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), left))
            self.frames.append(frame)
            if frame["type"] == "chat.batch":
                self._unpacked.extend(frame["data"]["events"])
            else:
                self._unpacked.append(frame)
        event = self._unpacked.pop(0)
        self.seen.append(event)
        return event

    async def expect(self, type_: str, timeout: float = 5, **data) -> dict:
        """The next event other than background ones; it must be `type_` (with `data`)."""
        deadline = time.monotonic() + timeout
        while True:
            event = await self.recv(max(0.01, deadline - time.monotonic()))
            if event["type"] in BACKGROUND and type_ not in BACKGROUND:
                continue
            assert event["type"] == type_, f"expected {type_}, got {event}"
            for name, value in data.items():
                assert event["data"].get(name) == value, f"{name}: {event}"
            return event

    async def quiet(self, seconds: float = 0.5) -> list[dict]:
        """Events (other than background ones) that arrive within `seconds`."""
        got = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = await self.recv(left)
            except TimeoutError:
                break
            if event["type"] not in BACKGROUND:
                got.append(event)
        return got


_DEFAULT = object()


@pytest.fixture
def ws_connect(asgi_server):
    """ws_connect(session_id, user=None, token=None, origin=<the server's>, query="")."""

    def connect(session_id, *, user=None, token=None, origin=_DEFAULT, query="", headers=None):
        all_headers = dict(headers or {})
        if user is not None:
            all_headers["Cookie"] = f"sessionid={session_cookie(user)}"
        if token is not None:
            all_headers["Authorization"] = f"Token {token}"
        return RoomClient(
            asgi_server.url(session_id, query),
            all_headers,
            asgi_server.origin if origin is _DEFAULT else origin,
        )

    return connect


def run(coro, timeout: float = 60):
    """Run a test's socket scenario (the ORM stays outside it, in the test body)."""
    return asyncio.run(asyncio.wait_for(coro, timeout))
