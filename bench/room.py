"""The busy room: what viewers SEND, beside a plain `websockets` server measured in the same run
by the same clients (`python -m bench join_storm room_chat`).

- join_storm: N new viewers (BENCH_ROOM_VIEWERS, 3,000) open their sockets at once on a room
  that already has a viewer. Per run: admitted sockets/s (N / time to the last hello), time to
  the last hello (target: all within 5 s), hello latency p50/p99 from the storm's start,
  failures. The plain server answers each handshake with a hello frame of the same size.
- room_chat: N viewers watch; C chatters (BENCH_ROOM_CHATTERS, 100; signed in with API tokens)
  each send a message every BENCH_ROOM_CHAT_EVERY seconds (2), staggered; a separate process
  publishes BENCH_ROOM_EVENT_RATE server events/s (20) through the bus, as services do. Per
  run: chat round trip p50/p99 (send to the sender seeing its own message come back; target
  p99 < 500 ms), server event latency p50/p99 at the viewers (target p99 < 250 ms), lost = chat
  messages and events some viewer did not get (must be 0), refused chats, and (room only)
  whether every acknowledged message reached PostgreSQL and how long that took. The plain
  server broadcasts each chat message and event to every socket, encoded once.

Both run in BENCH_ROOM_ROUNDS (2) rounds, plain and room alternating (plain-room, room-plain),
each round printing the machine's load average; the summary gives the per-round figures and
their medians. The room is the project on uvicorn (1 process, websockets-sansio, no
compression, uvloop) with the Redis bus (BENCH_REDIS_URL) and the bench database; clients are
raw asyncio WebSocket clients (uvloop) in processes of their own (viewers in
BENCH_ROOM_CLIENTS processes, 2; chatters in one). Options: BENCH_ROOM_VIEWERS,
BENCH_ROOM_CHATTERS, BENCH_ROOM_CHAT_EVERY, BENCH_ROOM_EVENT_RATE, BENCH_ROOM_SECONDS (20),
BENCH_ROOM_ROUNDS, BENCH_ROOM_CLIENTS, BENCH_ROOM_LOG (keep the room server's output there).
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import statistics
import sys
import tempfile
import time
from array import array

from bench import fanout
from bench.fanout import (
    HOST,
    SETTINGS,
    _free_port,
    _read_line,
    _room_command,
    _spawn,
    _stop,
    _uvloop,
    _wait_port,
    raise_nofile,
)

HOST_HANDLE = "benchroom"
CHATTER = "benchchat{}"
NOTICE = "Flash deal on the linen shirt in 10 minutes, stay tuned! "  # a server event's text
# Server events the viewers time: the room's notices and, in the chat flood, purchases.
EVENT_PREFIXES = (b'{"type":"notice"', b'{"type":"purchase"')


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _quantiles(values) -> list[float]:
    ordered = sorted(values)
    if not ordered:
        return []
    return [ordered[min(len(ordered) - 1, (len(ordered) * q) // 1000)] for q in range(1000)]


def _quantile(values, q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0.0


# --- a minimal WebSocket client connection ---------------------------------------------------


class _Conn(asyncio.Protocol):
    """Handshake, frames in (text frames handed to `on_text(buf, start, end)`), pongs, and
    masked text frames out."""

    def __init__(self, request: bytes):
        self.request = request
        self.buf = b""
        self.open = False
        self.closed = False
        self.ready = asyncio.get_running_loop().create_future()
        self.transport = None
        self.close_code = 0  # from the server's close frame

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc):
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed during the handshake"))

    def data_received(self, data: bytes):
        buf = self.buf + data if self.buf else data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            if b" 101 " not in buf[: buf.find(b"\r\n")]:
                self.ready.set_exception(ConnectionError(buf[:80].decode("latin-1")))
                self.transport.close()
                return
            self.open = True
            self.ready.set_result(True)
            buf = buf[end + 4 :]
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, n = buf[pos], buf[pos + 1] & 0x7F
            start = pos + 2
            if n == 126:
                if size - pos < 4:
                    break
                n, start = int.from_bytes(buf[pos + 2 : pos + 4], "big"), pos + 4
            elif n == 127:
                if size - pos < 10:
                    break
                n, start = int.from_bytes(buf[pos + 2 : pos + 10], "big"), pos + 10
            end = start + n
            if end > size:
                break
            opcode = b0 & 0x0F
            if opcode == 1:
                self.on_text(buf, start, end)
            elif opcode == 9:
                self._send(0xA, buf[start:end])
            elif opcode == 8:
                if end - start >= 2:
                    self.close_code = int.from_bytes(buf[start : start + 2], "big")
                self.transport.close()
            pos = end
        self.buf = buf[pos:] if pos < size else b""

    def on_text(self, buf: bytes, start: int, end: int) -> None:
        pass

    def send_text(self, text: str) -> None:
        self._send(0x1, text.encode())

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.closed:
            return
        n, mask = len(payload), os.urandom(4)
        head = bytes((0x80 | opcode, 0x80 | n)) if n < 126 else (
            bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big"))  # fmt: skip
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(head + mask + masked)


def _request(path: str, port: int, *, origin: bool) -> bytes:
    # "<path>#token=<key>": sign in with the header (tokens are refused in a socket's URL).
    path, _, token = path.partition("#token=")
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        "User-Agent: bench-room",
    ]
    if origin:
        lines.append(f"Origin: http://{HOST}:{port}")
    if token:
        lines.append(f"Authorization: Token {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _frame_id(buf: bytes, start: int) -> int:
    i = buf.index(b'"id":', start) + 5
    return int(buf[i : buf.index(b",", i)])


async def _connect(factory, port: int, attempts: int = 3):
    loop = asyncio.get_running_loop()
    for attempt in range(attempts):
        try:
            _, conn = await loop.create_connection(factory, HOST, port)
            await asyncio.wait_for(conn.ready, 60)
            return conn
        except (TimeoutError, OSError, ConnectionError):
            if attempt == attempts - 1:
                return None
            await asyncio.sleep(0.2 * (attempt + 1))
    return None


# --- join storm client -------------------------------------------------------------------------


class _Joiner(_Conn):
    def __init__(self, request: bytes, started: float):
        super().__init__(request)
        self.started = started
        self.hello_at = 0.0

    def on_text(self, buf, start, end):
        if not self.hello_at and buf.startswith(b'{"type":"hello"', start):
            self.hello_at = time.monotonic()


async def _join_storm(port: int, path: str, n: int) -> None:
    started = time.monotonic()
    joiners: list[_Joiner] = []

    def factory():
        j = _Joiner(_request(path, port, origin=True), started)
        joiners.append(j)
        return j

    conns = await asyncio.gather(*(_connect(factory, port, attempts=1) for _ in range(n)))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(j.hello_at or j.closed for j in joiners):
            break
        await asyncio.sleep(0.05)
    hellos = [j.hello_at - started for j in joiners if j.hello_at]
    failed = n - len(hellos)
    print(
        "result "
        + json.dumps(
            {
                "hellos": len(hellos),
                "failed": failed,
                "connected": sum(1 for c in conns if c is not None),
                "last": max(hellos, default=0.0),
                "quantiles": _quantiles([h * 1000 for h in hellos]),
            }
        ),
        flush=True,
    )
    for j in joiners:
        if j.transport is not None:
            j.transport.close()


# --- chat scenario clients ---------------------------------------------------------------------


class _Viewer(_Conn):
    def __init__(self, request: bytes, stats: dict):
        super().__init__(request)
        self.stats = stats
        self.last_id = None

    def on_text(self, buf, start, end):
        stats = self.stats
        event_id = _frame_id(buf, start)
        if buf.startswith(b'{"type":"hello"', start):
            self.last_id = event_id
            return
        first = event_id
        if buf.startswith(b'{"type":"chat.batch"', start):
            # Several chat messages; the ids from..id it does not carry were sampled away.
            i = buf.index(b'"from":', start) + 7
            first = int(buf[i : buf.index(b",", i)])
            stats["chats"] += buf.count(b'{"type":"chat.message"', start, end)
            stats["chat_frames"] += 1
            self._chat_seen(stats)
        elif buf.startswith(b'{"type":"chat.message"', start):
            stats["chats"] += 1
            stats["chat_frames"] += 1
            self._chat_seen(stats)
        elif buf.startswith(EVENT_PREFIXES, start):
            i = buf.index(b'"t":', start) + 4
            sent = float(buf[i : buf.index(b",", i)])
            stats["events"] += 1
            stats["latencies"].append((time.time() - sent) * 1000)
        if self.last_id is not None and first != self.last_id + 1:
            stats["gaps"] += 1
        self.last_id = event_id
        stats["last"] = time.monotonic()

    @staticmethod
    def _chat_seen(stats: dict) -> None:
        now = time.monotonic()
        if not stats["chat_first"]:
            stats["chat_first"] = now
        stats["chat_last"] = now


def _fresh_stats() -> dict:
    return {"chats": 0, "chat_frames": 0, "events": 0, "gaps": 0, "latencies": array("d"),
            "last": 0.0, "chat_first": 0.0, "chat_last": 0.0}  # fmt: skip


async def _viewers(port: int, path: str, n: int) -> None:
    stats = _fresh_stats()
    gate = asyncio.Semaphore(256)

    async def one():
        async with gate:
            return await _connect(lambda: _Viewer(_request(path, port, origin=True), stats), port)

    viewers = [v for v in await asyncio.gather(*(one() for _ in range(n))) if v is not None]
    print(f"ready {len(viewers)}", flush=True)
    loop = asyncio.get_running_loop()
    # Each line on stdin ends a measurement ("quit" ends the process): report once 3 s pass
    # without a frame (at most 60 s), then start counting afresh on the same sockets.
    while True:
        started = time.monotonic()
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or line.strip() == "quit":
            break
        told = time.monotonic()
        while time.monotonic() - max(stats["last"], told) < 3 and time.monotonic() - told < 60:
            await asyncio.sleep(0.2)
        closed = sum(1 for v in viewers if v.closed)
        print(
            "result "
            + json.dumps(
                {
                    "viewers": len(viewers),
                    "closed": closed,
                    "closed_1011": sum(1 for v in viewers if v.close_code == 1011),
                    "chats": stats["chats"],
                    "chat_frames": stats["chat_frames"],
                    "events": stats["events"],
                    "gaps": stats["gaps"],
                    "seconds": max(1e-6, stats["last"] - started),
                    "chat_span": stats["chat_last"] - stats["chat_first"],
                    "quantiles": _quantiles(stats["latencies"]),
                }
            ),
            flush=True,
        )
        fresh = _fresh_stats()
        stats.clear()
        stats.update(fresh)
    for v in viewers:
        v.transport.close()


class _Chatter(_Conn):
    def __init__(self, request: bytes, number: int, stats: dict):
        super().__init__(request)
        self.number = number
        self.stats = stats
        self.prefix = f'"text":"c{number}-'.encode()
        self.sent: dict[int, float] = {}

    def on_text(self, buf, start, end):
        if buf.startswith((b'{"type":"chat.message"', b'{"type":"chat.batch"'), start):
            # Its own messages, alone or in a batch (a sender always gets all of its own).
            i = buf.find(self.prefix, start, end)
            while i >= 0:
                j = i + len(self.prefix)
                n = int(buf[j : buf.index(b'"', j)])
                sent = self.sent.pop(n, None)
                if sent is not None:
                    self.stats["rtts"].append((time.monotonic() - sent[0]) * 1000)
                    # Split at the time the room's Redis script stamped it ("ts", same clock):
                    # in = to the server and through the script, out = back to the sender.
                    k = buf.rfind(b'"ts":', start, i) + 5
                    stamped = int(buf[k : buf.index(b",", k)]) / 1000
                    self.stats["in"].append((stamped - sent[1]) * 1000)
                    self.stats["out"].append((time.time() - stamped) * 1000)
                i = buf.find(self.prefix, j, end)
        elif buf.startswith(b'{"type":"error"', start):
            if buf.find(b"rate_limited", start, end) >= 0:
                self.stats["refused"] += 1
            else:
                self.stats["errors"] += 1

    def chat(self, n: int) -> None:
        self.sent[n] = (time.monotonic(), time.time())
        self.send_text(json.dumps({"action": "chat.send", "text": f"c{self.number}-{n}"}))


async def _chatters(port: int, paths: list[str], every: float, seconds: float) -> None:
    stats = {"rtts": array("d"), "in": array("d"), "out": array("d"), "refused": 0, "errors": 0}
    chatters = []
    for number, path in enumerate(paths):
        conn = await _connect(
            lambda p=path, k=number: _Chatter(_request(p, port, origin=False), k, stats), port
        )
        if conn is not None:
            chatters.append(conn)
    print(f"ready {len(chatters)}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await asyncio.sleep(1.0)  # past the room's resume grace, well after the viewers' start
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    # Staggered: chatter k sends at k * every / C + m * every.
    schedule = sorted(
        (m * every + k * every / len(chatters), k)
        for k in range(len(chatters))
        for m in range(int(seconds / every))
    )
    for at, k in schedule:
        await asyncio.sleep(max(0, start + at - loop.time()))
        chatters[k].chat(sent)
        sent += 1
    deadline = loop.time() + 30
    while loop.time() < deadline and any(c.sent for c in chatters):
        await asyncio.sleep(0.1)
    print(
        "result "
        + json.dumps(
            {
                "chatters": len(chatters),
                "sent": sent,
                "acked": len(stats["rtts"]),
                "refused": stats["refused"],
                "errors": stats["errors"],
                "unanswered": sum(len(c.sent) for c in chatters),
                "quantiles": _quantiles(stats["rtts"]),
                "in": [_quantile(stats["in"], q) for q in (0.5, 0.99)],
                "out": [_quantile(stats["out"], q) for q in (0.5, 0.99)],
            }
        ),
        flush=True,
    )
    for c in chatters:
        c.transport.close()


def client_main(args: list[str]) -> None:
    role, port = args[0], int(args[1])
    raise_nofile(20000)
    _uvloop()
    if role == "join":
        asyncio.run(_join_storm(port, args[2], int(args[3])))
    elif role == "viewers":
        asyncio.run(_viewers(port, args[2], int(args[3])))
    else:
        paths = json.loads(args[4])
        asyncio.run(_chatters(port, paths, float(args[2]), float(args[3])))


# --- the plain websockets server -------------------------------------------------------------


async def _plain(port: int, hello_size: int) -> None:
    from websockets.asyncio.server import broadcast, serve

    sockets = set()
    next_id = 0

    def envelope(type_: str, data: dict) -> str:
        nonlocal next_id
        next_id += 1
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        return f'{{"type":"{type_}","id":{next_id},"ts":{int(time.time() * 1000)},"data":{body}}}'

    async def handler(ws):
        path = ws.request.path
        if path == "/control":
            async for message in ws:
                order = json.loads(message)
                delay = 1 / order["rate"]
                start, wall = time.monotonic(), time.time()
                for seq in range(order["count"]):
                    await asyncio.sleep(max(0, start + seq * delay - time.monotonic()))
                    data = {"seq": seq, "t": wall + seq * delay, "text": NOTICE}
                    broadcast(sockets, envelope("notice", data))
                await ws.send("done")
            return
        pad = "x" * max(0, hello_size - 60)
        await ws.send(f'{{"type":"hello","id":{next_id},"ts":0,"data":{{"pad":"{pad}"}}}}')
        sockets.add(ws)
        try:
            async for message in ws:  # a chatter: every message goes to everyone
                text = json.loads(message).get("text", "")
                data = {"id": next_id + 1, "user": {"handle": "x", "name": "X"}, "text": text}
                broadcast(sockets, envelope("chat.message", data))
        finally:
            sockets.discard(ws)

    async with serve(handler, HOST, port, compression=None, max_queue=None, backlog=4096):
        print("listening", flush=True)
        await asyncio.Future()


def plain_main(args: list[str]) -> None:
    raise_nofile(20000)
    _uvloop()
    asyncio.run(_plain(int(args[0]), int(args[1])))


def publish_main(args: list[str]) -> None:
    # The fan-out bench's publisher, sending the room's own "notice" events (or another type
    # given as a fourth argument: "purchase" in the chat flood).
    type_ = args[3] if len(args) > 3 else "notice"
    fanout.publish_main(args[:3], type_=type_, text=NOTICE)


# --- the orchestration (inside `python -m bench`) ----------------------------------------------


def _seed(chatters: int) -> tuple[int, list[str]]:
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from live.models import LiveSession
    from shopfeed.accounts.models import User

    host, _ = User.objects.get_or_create(
        handle=HOST_HANDLE, defaults={"username": HOST_HANDLE, "is_creator": True}
    )
    session = LiveSession.objects.filter(host=host, title="Busy room bench").first()
    if session is None:
        session = LiveSession.objects.create(
            host=host, title="Busy room bench", scheduled_at=timezone.now()
        )
    LiveSession.objects.filter(pk=session.pk).update(
        status=LiveSession.Status.LIVE, started_at=timezone.now()
    )
    tokens = []
    for n in range(chatters):
        handle = CHATTER.format(n)
        user, _ = User.objects.get_or_create(handle=handle, defaults={"username": handle})
        tokens.append(Token.objects.get_or_create(user=user)[0].key)
    return session.pk, tokens


def _reset_redis(redis_url: str, session_id: int) -> None:
    import redis

    r = redis.Redis.from_url(redis_url)
    for key in r.scan_iter(f"{{live:{session_id}}}*"):
        r.delete(key)


class _Servers:
    """The room (uvicorn) and the plain server, started once for all rounds."""

    def __init__(self, redis_url: str, hello_size: int, room_env: dict | None = None):
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "REDIS_URL": redis_url,
            "PYTHONUNBUFFERED": "1",
        }
        room_env = {**self.env, **(room_env or {})}
        self.room_port, self.plain_port = _free_port(), _free_port()
        log = _env("BENCH_ROOM_LOG", "")
        self.logs = [
            open(log, "w+") if log else tempfile.NamedTemporaryFile("w+", suffix=".log"),  # noqa: SIM115
            tempfile.NamedTemporaryFile("w+", suffix=".log"),  # noqa: SIM115
        ]
        self.room = _spawn(_room_command("uvicorn", self.room_port), room_env, self.logs[0])
        plain_args = [sys.executable, "-m", "bench.room", "plain", str(self.plain_port),
                      str(hello_size)]  # fmt: skip
        self.plain = _spawn(plain_args, self.env, self.logs[1])
        _wait_port(self.room_port, self.room)
        _wait_port(self.plain_port, self.plain)

    def stop(self, failed: bool) -> None:
        if failed:
            for name, log in zip(("room", "plain"), self.logs, strict=True):
                log.flush()
                log.seek(0)
                tail = log.read()[-3000:]
                if tail.strip():
                    print(f"--- {name} server log ---\n{tail}", file=sys.stderr)
        _stop(self.room)
        _stop(self.plain)
        for log in self.logs:
            log.close()


def _spawn_client(args: list[str], env: dict):
    import subprocess

    return subprocess.Popen(
        [sys.executable, "-m", "bench.room", "client", *args],
        env=env,
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _warm(port: int, path: str, env: dict):
    """One viewer already in the room (a storm joins a room that is on air)."""
    proc = _spawn_client(["viewers", str(port), path, "1"], env)
    _read_line(proc, "ready ", 60)
    return proc


def _storm_once(label: str, port: int, path: str, n: int, env: dict, server_pid: int) -> dict:
    from bench.fanout import _cpu_seconds

    warm = _warm(port, path, env)
    try:
        time.sleep(1)
        cpu = _cpu_seconds(server_pid)
        proc = _spawn_client(["join", str(port), path, str(n)], env)
        try:
            result = json.loads(_read_line(proc, "result ", 120))
        finally:
            _stop(proc)
        result["cpu"] = _cpu_seconds(server_pid) - cpu
    finally:
        _stop(warm)
    result["label"] = label
    result["load"] = os.getloadavg()[0]
    time.sleep(2)
    return result


def _chat_once(
    label: str, port: int, viewer_path: str, chatter_paths: list[str], trigger, n: int,
    clients: int, every: float, seconds: float, env: dict, server_pid: int,
) -> dict:  # fmt: skip
    from bench.fanout import _cpu_seconds

    share = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]
    viewers = [_spawn_client(["viewers", str(port), viewer_path, str(k)], env) for k in share]
    chatter = None
    try:
        for v in viewers:
            _read_line(v, "ready ", 300)
        chatter = _spawn_client(
            ["chat", str(port), str(every), str(seconds), json.dumps(chatter_paths)], env
        )
        _read_line(chatter, "ready ", 120)
        time.sleep(2)
        load = os.getloadavg()[0]
        cpu = _cpu_seconds(server_pid)
        chatter.stdin.write("go\n")
        chatter.stdin.flush()
        trigger()
        chats = json.loads(_read_line(chatter, "result ", seconds + 90))
        for v in viewers:
            v.stdin.write("done\n")
            v.stdin.flush()
        seen = [json.loads(_read_line(v, "result ", 120)) for v in viewers]  # quiet: <= 60 s
        cpu = _cpu_seconds(server_pid) - cpu
    finally:
        for p in [*viewers, *([chatter] if chatter else [])]:
            _stop(p)
    return {"label": label, "load": load, "chats": chats, "viewers": seen, "cpu": cpu}


def _median(values) -> float:
    return statistics.median(values) if values else 0.0


def run_join_storm(**_ignored):
    return _run("join_storm")


def run_chat(**_ignored):
    return _run("room_chat")


def run_flood(**_ignored):
    return _run("room_flood")


def _config(flood: bool):
    """(viewers, chatters, every, event rate, seconds, rounds, client processes, room env)."""
    n = int(_env("BENCH_ROOM_VIEWERS", "3000"))
    chatters = int(_env("BENCH_FLOOD_CHATTERS" if flood else "BENCH_ROOM_CHATTERS",
                        "250" if flood else "100"))  # fmt: skip
    every = float(_env("BENCH_FLOOD_CHAT_EVERY" if flood else "BENCH_ROOM_CHAT_EVERY",
                       "0.5" if flood else "2"))  # fmt: skip
    rate = float(_env("BENCH_ROOM_EVENT_RATE", "20"))
    seconds = float(_env("BENCH_FLOOD_SECONDS" if flood else "BENCH_ROOM_SECONDS",
                         "10" if flood else "20"))  # fmt: skip
    rounds = int(_env("BENCH_ROOM_ROUNDS", "2"))
    clients = int(_env("BENCH_ROOM_CLIENTS", "2"))
    room_env = {}
    if flood:
        # Each flood chatter sends 1/every messages a second, more than a person may (the
        # default is 5 per 10 s): the room's limit is raised for this run, with room to spare.
        room_env = {"LIVE_CHAT_RATE": str(max(5, math.ceil(15 / every))),
                    "LIVE_CHAT_RATE_WINDOW": "10"}  # fmt: skip
    return n, chatters, every, rate, seconds, rounds, clients, room_env


def _wait_stored(session_id: int, before: int, acked: int) -> tuple[int, float]:
    """Chat rows stored since `before` once they reach `acked` (or after 30 s), and how long."""
    from live.models import ChatMessage

    started, stored = time.monotonic(), 0
    while time.monotonic() - started < 30:
        stored = ChatMessage.objects.filter(session_id=session_id).count() - before
        if stored >= acked:
            break
        time.sleep(0.2)
    return stored, time.monotonic() - started


def _run(which: str):
    from bench.load import LoadResult

    flood = which == "room_flood"
    n, chatters, every, rate, seconds, rounds, clients, room_env = _config(flood)
    redis_url = _env("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    raise_nofile(n * 2 + 2000)

    import redis

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return [], [f"{which}: skipped, it needs Redis at {redis_url} (BENCH_REDIS_URL): {exc}"]
    session_id, tokens = _seed(chatters)
    _reset_redis(redis_url, session_id)
    from django.conf import settings as django_settings

    from live.models import ChatMessage

    servers = _Servers(redis_url, hello_size=700, room_env=room_env)
    env = {**servers.env}
    room_path = f"/ws/live/{session_id}/"
    failed = True
    runs = []
    try:
        for r in range(rounds):
            order = [("plain websockets", servers.plain_port), ("live room", servers.room_port)]
            if r % 2:
                order.reverse()
            if flood:
                # The plain server has no backpressure and would queue 500 x 3,000 messages a
                # second in memory: it has no flood round (its limit is in room_chat/headroom).
                order = [("live room", servers.room_port)]
            for label, port in order:
                is_room = port == servers.room_port
                path = room_path if is_room else "/"
                pid = servers.room.pid if is_room else servers.plain.pid
                if which == "join_storm":
                    runs.append(_storm_once(label, port, path, n, env, pid))
                    continue
                chatter_paths = (
                    [f"{room_path}#token={t}" for t in tokens] if is_room else ["/"] * chatters
                )
                count = int(rate * (seconds + 2))
                publishers = []

                def trigger(is_room=is_room, count=count, publishers=publishers):
                    if is_room:
                        publishers.append(_spawn(
                            [sys.executable, "-m", "bench.room", "publish", str(session_id),
                             str(rate), str(count), "purchase" if flood else "notice"],
                            env, None))  # fmt: skip
                    else:
                        from websockets.sync.client import connect

                        control = connect(f"ws://{HOST}:{servers.plain_port}/control")
                        control.send(json.dumps({"rate": rate, "count": count}))
                        publishers.append(control)

                stored_before = ChatMessage.objects.filter(session_id=session_id).count()
                run = _chat_once(label, port, path, chatter_paths, trigger, n, clients, every,
                                 seconds, env, pid)  # fmt: skip
                for p in publishers:
                    if hasattr(p, "wait"):
                        p.wait(timeout=60)
                    else:
                        p.close()
                run["events_expected"] = count
                if is_room:
                    run["stored"], run["stored_in"] = _wait_stored(
                        session_id, stored_before, run["chats"]["acked"]
                    )
                runs.append(run)
                time.sleep(2)
        failed = False
    finally:
        servers.stop(failed)
    if which == "join_storm":
        return _storm_report(runs, n, LoadResult)
    if flood:
        budget = (django_settings.LIVE_CHAT_SHOWN_PER_SECOND, django_settings.LIVE_CHAT_SHOWN_BURST,
                  django_settings.LIVE_CHAT_TICK_SECONDS)  # fmt: skip
        return _flood_report(runs, n, chatters, every, rate, seconds, LoadResult, room_env, budget)
    limit = (django_settings.LIVE_CHAT_RATE, django_settings.LIVE_CHAT_RATE_WINDOW)
    return _chat_report(runs, n, chatters, every, rate, seconds, clients, LoadResult, *limit)


def _storm_report(runs, n, LoadResult):
    results, notes = [], []
    for label in ("plain websockets", "live room"):
        mine = [r for r in runs if r["label"] == label]
        for i, r in enumerate(mine):
            res = LoadResult(
                name=f"join storm {label} #{i + 1}",
                url="",
                client="raw-ws",
                concurrency=n,
                seconds=max(1e-6, r["last"]),
                requests=r["hellos"],
                errors=r["failed"],
                latencies=[(q, r["hellos"] / 1000) for q in r["quantiles"]],
            )
            results.append(res)
            notes.append(
                f"join storm {label} #{i + 1}: {r['hellos']}/{n} hellos, last at "
                f"{r['last']:.2f} s ({r['hellos'] / max(1e-6, r['last']):,.0f} admits/s), "
                f"failed {r['failed']}, server CPU {r['cpu']:.1f} s, load average {r['load']:.2f}"
            )
        notes.append(
            f"join storm {label} medians: last hello {_median([r['last'] for r in mine]):.2f} s, "
            f"{_median([r['hellos'] / max(1e-6, r['last']) for r in mine]):,.0f} admits/s "
            f"(target for the room: all {n} within 5 s)"
        )
    notes.insert(
        0,
        f"join storm: {n} new viewers at once into a room with one viewer; "
        "'req/s' = admitted sockets/s, latency = hello after the storm's start",
    )
    return results, notes


def _chat_report(runs, n, chatters, every, rate, seconds, clients, LoadResult, crate, cwin):
    results, notes = [], []
    for label in ("plain websockets", "live room"):
        mine = [r for r in runs if r["label"] == label]
        summary = []
        for i, r in enumerate(mine):
            c = r["chats"]
            v = r["viewers"]
            viewers = sum(x["viewers"] for x in v)
            got_chats = sum(x["chats"] for x in v)
            got_events = sum(x["events"] for x in v)
            gaps = sum(x["gaps"] for x in v)
            # A message acknowledged to its sender must reach every viewer; one the sender
            # never saw may still reach them (late): count what is missing, never below 0.
            lost_chats = max(0, c["acked"] * viewers - got_chats)
            lost_events = max(0, r["events_expected"] * viewers - got_events)
            lost = lost_chats + lost_events + gaps
            event_lat = [(q, x["events"] / 1000) for x in v for q in x["quantiles"]]
            chat = LoadResult(
                name=f"chat round trip {label} #{i + 1}", url="", client="raw-ws",
                concurrency=chatters, seconds=seconds, requests=c["acked"],
                errors=c["refused"] + c["errors"] + c["unanswered"],
                latencies=[(q, c["acked"] / 1000) for q in c["quantiles"]],
            )  # fmt: skip
            events = LoadResult(
                name=f"events to viewers {label} #{i + 1}", url="", client="raw-ws",
                concurrency=viewers, seconds=seconds, requests=got_events + got_chats,
                errors=lost, latencies=event_lat,
            )  # fmt: skip
            results += [chat, events]
            stored = (
                f"; stored {r['stored']}/{c['acked']} in {r['stored_in']:.1f} s"
                if "stored" in r
                else ""
            )
            notes.append(
                f"room chat {label} #{i + 1}: chats sent {c['sent']}, acked {c['acked']}, refused "
                f"{c['refused']}, errors {c['errors']}, unanswered {c['unanswered']}; chat p50/p99 "
                f"{chat.p50_ms:.0f}/{chat.p99_ms:.0f} ms (in {c['in'][0]:.0f}/{c['in'][1]:.0f}, "
                f"out {c['out'][0]:.0f}/{c['out'][1]:.0f}); event p50/p99 {events.p50_ms:.0f}/"
                f"{events.p99_ms:.0f} ms; lost chats {lost_chats}, lost events {lost_events}, "
                f"gaps {gaps}, closed {sum(x['closed'] for x in v)} (1011: "
                f"{sum(x['closed_1011'] for x in v)}){stored}; server CPU {r['cpu']:.1f} s; "
                f"load average {r['load']:.2f}"
            )
            summary.append((chat.p50_ms, chat.p99_ms, events.p50_ms, events.p99_ms, lost))
        if summary:
            med = [_median([s[k] for s in summary]) for k in range(5)]
            notes.append(
                f"room chat {label} medians: chat p50/p99 {med[0]:.0f}/{med[1]:.0f} ms, event "
                f"p50/p99 {med[2]:.0f}/{med[3]:.0f} ms, lost {med[4]:.0f} (room targets: chat "
                "p99 < 500 ms, event p99 < 250 ms, 0 lost, all stored)"
            )
    notes.insert(
        0,
        f"room chat: {n} viewers ({clients} client processes), {chatters} chatters each every "
        f"{every:g} s (rate limit {crate} per {cwin} s), {rate:g} server events/s for "
        f"{seconds:g} s; 'req/s' = chats acked/s (round trip rows) or messages delivered/s "
        "(event rows), 'errors' = refused/unanswered chats or lost messages",
    )
    return results, notes


def _flood_report(runs, n, chatters, every, rate, seconds, LoadResult, room_env, budget):
    results, notes = [], []
    summary = []
    for i, r in enumerate(runs):
        c, v = r["chats"], r["viewers"]
        viewers = sum(x["viewers"] for x in v)
        got_chats = sum(x["chats"] for x in v)
        chat_frames = sum(x["chat_frames"] for x in v)
        got_events = sum(x["events"] for x in v)
        gaps = sum(x["gaps"] for x in v)
        closed = sum(x["closed"] for x in v)
        closed_1011 = sum(x["closed_1011"] for x in v)
        lost_events = max(0, r["events_expected"] * viewers - got_events)
        # Per second of chat flowing at the viewers (the flood may reach them late).
        span = max(seconds / 10, _median([x["chat_span"] for x in v]))
        shown = got_chats / max(1, viewers) / span
        frames = chat_frames / max(1, viewers) / span
        events = LoadResult(
            name=f"chat flood: commerce events #{i + 1}", url="", client="raw-ws",
            concurrency=viewers, seconds=seconds, requests=got_events,
            errors=lost_events + gaps + closed,
            latencies=[(q, x["events"] / 1000) for x in v for q in x["quantiles"]],
        )  # fmt: skip
        chat = LoadResult(
            name=f"chat flood: own chat round trip #{i + 1}", url="", client="raw-ws",
            concurrency=chatters, seconds=seconds, requests=c["acked"],
            errors=c["refused"] + c["errors"] + c["unanswered"] + (c["acked"] - r["stored"]),
            latencies=[(q, c["acked"] / 1000) for q in c["quantiles"]],
        )  # fmt: skip
        results += [events, chat]
        notes.append(
            f"chat flood #{i + 1}: offered {c['sent'] / seconds:,.0f} chats/s ({c['sent']} sent, "
            f"acked {c['acked']}, refused {c['refused']}, unanswered {c['unanswered']}); shown per "
            f"viewer {shown:.1f} chats/s in {frames:.1f} chat frames/s over {span:.1f} s of chat "
            f"({got_chats / max(1, viewers):.0f} each); commerce event p50/p99 "
            f"{events.p50_ms:.0f}/{events.p99_ms:.0f} ms, lost {lost_events}, gaps {gaps}, "
            f"closed {closed} (1011: {closed_1011}); own chat p50/p99 {chat.p50_ms:.0f}/"
            f"{chat.p99_ms:.0f} ms (in {c['in'][0]:.0f}/{c['in'][1]:.0f}, out {c['out'][0]:.0f}/"
            f"{c['out'][1]:.0f}); stored {r['stored']}/{c['acked']} in {r['stored_in']:.1f} s; "
            f"server CPU {r['cpu']:.1f} s ({r['cpu'] / max(1, c['sent']) * 1e3:.2f} ms a chat); "
            f"load average {r['load']:.2f}"
        )
        summary.append((events.p99_ms, shown, chat.p99_ms, lost_events + gaps + closed))
    if summary:
        med = [_median([s[k] for s in summary]) for k in range(4)]
        notes.append(
            f"chat flood medians: commerce event p99 {med[0]:.0f} ms, shown {med[1]:.1f} chats/s "
            f"per viewer, own chat p99 {med[2]:.0f} ms, lost {med[3]:.0f} (targets: event p99 "
            f"< 250 ms, 0 lost, chat shown at most ~{budget[0]:g}/s, every acked chat stored)"
        )
    notes.insert(
        0,
        f"chat flood: {n} viewers, {chatters} signed-in chatters each every {every:g} s "
        f"({chatters / every:,.0f} chats/s offered; room chat limit {room_env['LIVE_CHAT_RATE']} "
        f"per {room_env['LIVE_CHAT_RATE_WINDOW']} s for this run), {rate:g} purchase events/s, "
        f"{seconds:g} s; room budget {budget[0]:g} chats/s per viewer (burst {budget[1]:g}), "
        f"tick {budget[2]:g} s; live room only (the plain server has no backpressure)",
    )
    return results, notes


if __name__ == "__main__":
    role, rest = sys.argv[1], sys.argv[2:]
    {"client": client_main, "plain": plain_main, "publish": publish_main}[role](rest)
