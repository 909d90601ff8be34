"""Room servers of a test's own (for faults: idle subscriptions, killed connections, killed
processes), and small helpers over the room protocol. The shared server is in conftest.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time

from live.tests.conftest import ROOM_ENV, RoomClient, Server, session_cookie


class RoomServers:
    """`start(**env)` starts uvicorn in a child process with ROOM_ENV plus `env`; all are
    stopped (or found already killed) when the test ends."""

    def __init__(self, redis_url: str, log_dir):
        self.redis_url = redis_url
        self.log_dir = log_dir
        self.started: list[Server] = []

    def start(self, app: str = "shopfeed.asgi:application", **env: str) -> Server:
        from shopfeed.testing import Process, child_env, free_port, wait_for_port

        port = free_port()
        args = [
            sys.executable, "-m", "uvicorn", app,
            "--host", "127.0.0.1", "--port", str(port), "--ws", "websockets-sansio",
            "--ws-per-message-deflate", "false", "--lifespan", "off", "--log-level", "warning",
        ]  # fmt: skip
        log = self.log_dir / f"uvicorn-{port}.log"
        process = Process(args, child_env(REDIS_URL=self.redis_url, **{**ROOM_ENV, **env}), log)
        server = Server(port=port, process=process)
        self.started.append(server)
        try:
            wait_for_port(port, timeout=60)
        except RuntimeError:
            raise RuntimeError(f"uvicorn did not start:\n{process.output()[-3000:]}") from None
        return server

    def kill(self, server: Server) -> None:
        """SIGKILL: no shutdown, no goodbye to Redis; what it held must age out."""
        os.kill(server.process.proc.pid, signal.SIGKILL)
        server.process.proc.wait(10)

    def stop_all(self) -> None:
        for server in self.started:
            server.process.stop()


def client(server: Server, session_id: int, *, user=None, query: str = "") -> RoomClient:
    headers = {}
    if user is not None:
        headers["Cookie"] = f"sessionid={session_cookie(user)}"
    return RoomClient(server.url(session_id, query), headers, server.origin)


async def next_count(socket: RoomClient, want, timeout: float) -> int:
    """Read "viewers" events until one has a count `want(count)` accepts; return that count."""
    deadline = time.monotonic() + timeout
    last = None
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = await socket.recv(left)
        except TimeoutError:
            break
        if event["type"] == "viewers":
            last = event["data"]["count"]
            if want(last):
                return last
    raise AssertionError(f"no viewer count as wanted within {timeout} s (last seen: {last})")


async def events_until(socket: RoomClient, done, timeout: float = 10) -> list[dict]:
    """Every non-"viewers" event until `done(events)` is true."""
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while not done(got):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"gave up waiting; got {[(e['type'], e.get('id')) for e in got]}")
        event = await socket.recv(left)
        if event["type"] != "viewers":
            got.append(event)
    return got


def nested(depth: int) -> str:
    """A JSON text nested `depth` levels deep (what a hostile client sends)."""
    return '{"action":"chat.send","text":' + "[" * depth + "]" * depth + "}"


async def close_quietly(*sockets: RoomClient) -> None:
    for s in sockets:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(s.ws.close(), 2)


def kill_pubsub_connections(redis_url: str) -> int:
    """CLIENT KILL every pub/sub connection on our Redis database (not other databases'),
    as a network blip or a Redis failover would cut them."""
    import redis

    r = redis.Redis.from_url(redis_url)
    db = r.connection_pool.connection_kwargs.get("db", 0)
    killed = 0
    for c in r.client_list(_type="pubsub"):
        if int(c.get("db", -1)) == int(db):
            killed += bool(r.execute_command("CLIENT", "KILL", "ID", c["id"]))
    return killed


def frame_ids(events: list[dict]) -> list[int]:
    return [e["id"] for e in events if "id" in e]


def dumps(data) -> str:
    return json.dumps(data, separators=(",", ":"))


def sql_count(server: Server) -> int:
    """Statements run so far by a server started with live.tests.counting_asgi."""
    from urllib.request import urlopen

    with urlopen(f"{server.origin}/__test__/sql-count", timeout=10) as response:
        return int(response.read())
