"""Live-room fan-out: N viewers on one session, a steady stream of events, beside a plain
`websockets` broadcast server measured in the same run by the same client.

- The room: the project on uvicorn (1 process, websockets-sansio, no compression, uvloop),
  Redis bus. Events go through the real path: `live.room.bus.get_bus().publish()` from a separate
  process, as a service or a Celery task would, then Redis pub/sub, the process's room hub
  (live/room/hub.py) and every socket. Sockets are real `/ws/live/<id>/` connections (Origin
  checked, admitted, "hello" snapshot, viewer counting on).
- The yardstick: a plain `websockets` server (uvloop too) whose own loop calls
  `websockets.broadcast()` with each event, encoded once, to every connection.
- The client: N raw WebSocket connections in one or two asyncio processes (uvloop) with a
  minimal frame parser, light enough that the servers, not the client, are measured.
  It offers no compression, so neither server compresses.

Each event carries the time it was due (both publishers pace on a schedule; a server that
falls behind shows it in its latency) and a sequence number. Per run: delivered messages/s
(received / (last receipt - first due)), p50/p99 latency from due time to receipt, lost =
expected - received, which must be 0 (a gap in a socket's sequence also counts), and the
server's CPU seconds per delivered message. Lost messages make the bench exit 1.

Options (environment): BENCH_FANOUT_VIEWERS (1000,3000), BENCH_FANOUT_RATE (20 events/s),
BENCH_FANOUT_SECONDS (10), BENCH_FANOUT_CLIENTS (1 client process; 2 for rates past ~60,000
messages/s), BENCH_REDIS_URL (redis://127.0.0.1:6379/15), BENCH_FANOUT_SERVER (uvicorn |
uvicorn-websockets | daphne), BENCH_FANOUT_ROOM_LOG (keep the room server's output in that
file). The room process honours LIVE_HUB_RAW=0 (ASGI send per socket instead of shared
frame bytes) and LIVE_GC_THRESHOLD=0 (default garbage collector), for comparisons.

Measured on the 2-core machine, quiet, 20 events/s for 10 s: 1,000 viewers 20,061 vs 20,078
messages/s (ratio 1.00), 3,000 viewers 60,003 vs 60,125 (1.00), none lost, p50/p99 13/30 ms
vs 16/41 ms, server CPU 8.0 vs 10.2 us a message. At 40 events/s to 3,000 (2 client
processes) the plain server fell behind (103,309 messages/s, p50 955 ms) and the room did
not (119,008, p50 42 ms): the room writes one shared frame per socket, and several frames in
one write when it has fallen behind.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import queue
import resource
import signal
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
SETTINGS = "bench.settings"
HOST_HANDLE = "benchlive"
TEXT = "Just bought the linen shirt in blue, size M! " * 2  # a chat-sized payload


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def raise_nofile(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} while starting")
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {HOST}:{port}")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the client (a process of its own) ------------------------------------------------------


class _Stats:
    def __init__(self, expected: int):
        self.expected = expected
        self.received = 0
        self.gaps = 0
        self.closed = 0
        self.done_sockets = 0
        self.latencies = array("d")
        self.first_recv = 0.0
        self.first_sent = 0.0  # when the first event left its publisher
        self.last_recv = 0.0
        self.all_done = asyncio.get_running_loop().create_future()


class _Viewer(asyncio.Protocol):
    """A WebSocket client reduced to what the bench needs: handshake, frames, pongs."""

    def __init__(self, stats: _Stats, request: bytes):
        self.stats = stats
        self.request = request
        self.buf = b""
        self.open = False
        self.ready = asyncio.get_running_loop().create_future()
        self.next_seq = 0
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc):
        self.stats.closed += 1
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed during the handshake"))

    def _handshake(self, buf: bytes) -> bytes | None:
        """The bytes after the HTTP upgrade answer, or None until the socket is open."""
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            self.buf = buf
            return None
        status = buf[: buf.find(b"\r\n")]
        if b" 101 " not in status:
            self.ready.set_exception(ConnectionError(status.decode("latin-1")))
            self.transport.close()
            return None
        self.open = True
        self.ready.set_result(True)
        return buf[end + 4 :]

    def data_received(self, data: bytes):
        buf = self.buf + data if self.buf else data
        if not self.open:
            buf = self._handshake(buf)
            if buf is None:
                return
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, n = buf[pos], buf[pos + 1] & 0x7F
            start = pos + 2
            if n == 126:
                if size - pos < 4:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif n == 127:
                if size - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + n
            if end > size:
                break
            opcode = b0 & 0x0F
            if opcode == 1:
                if buf.startswith(b'{"type":"bench"', start):
                    self._count(buf, start)
            elif opcode == 9:  # ping: answer with a masked pong
                self._pong(buf[start:end])
            elif opcode == 8:
                self.transport.close()
            pos = end
        self.buf = buf[pos:] if pos < size else b""

    def _count(self, buf: bytes, start: int) -> None:
        """Record one benchmark frame: its latency, and any gap in the sequence."""
        stats = self.stats
        now = time.time()
        i = buf.index(b'"seq":', start) + 6
        seq = int(buf[i : buf.index(b",", i)])
        j = buf.index(b'"t":', i) + 4
        sent = float(buf[j : buf.index(b",", j)])
        if seq != self.next_seq:
            stats.gaps += 1
        self.next_seq = seq + 1
        stats.received += 1
        stats.latencies.append((now - sent) * 1000)
        if not stats.first_recv:
            stats.first_recv = now
        if seq == 0 and (not stats.first_sent or sent < stats.first_sent):
            stats.first_sent = sent
        stats.last_recv = now
        if seq + 1 == stats.expected:
            stats.done_sockets += 1

    def _pong(self, payload: bytes) -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes((0x8A, 0x80 | len(payload))) + mask + masked)


async def _client(url_host: str, port: int, path: str, n: int, expected: int, wait: float):
    stats = _Stats(expected)
    loop = asyncio.get_running_loop()
    viewers: list[_Viewer] = []
    gate = asyncio.Semaphore(64)

    async def connect(_):
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {url_host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: http://{url_host}:{port}\r\nUser-Agent: bench-fanout\r\n\r\n"
        ).encode()
        async with gate:
            for attempt in range(5):
                try:
                    _, viewer = await loop.create_connection(
                        lambda: _Viewer(stats, request), url_host, port
                    )
                    await asyncio.wait_for(viewer.ready, 30)
                    viewers.append(viewer)
                    return
                except (TimeoutError, OSError, ConnectionError):
                    await asyncio.sleep(0.2 * (attempt + 1))
            raise ConnectionError("could not connect")

    started = time.monotonic()
    await asyncio.gather(*(connect(i) for i in range(n)))
    stats.closed = 0
    print(f"ready {len(viewers)} {time.monotonic() - started:.1f}", flush=True)
    # Wait for the stream: until every socket has the last event, or `wait` seconds of quiet.
    last_seen, last_count = time.monotonic(), -1
    while stats.done_sockets < n:
        await asyncio.sleep(0.1)
        if stats.received != last_count:
            last_seen, last_count = time.monotonic(), stats.received
        elif time.monotonic() - last_seen > (wait if stats.received else 120):
            break
    for v in viewers:
        v.transport.close()
    lat = sorted(stats.latencies)
    quantiles = [lat[min(len(lat) - 1, (len(lat) * q) // 1000)] for q in range(1000)] if lat else []
    print(
        "result "
        + json.dumps(
            {
                "received": stats.received,
                "gaps": stats.gaps,
                "closed": stats.closed,
                "first": stats.first_recv,
                "first_sent": stats.first_sent,
                "last": stats.last_recv,
                "quantiles": quantiles,
            }
        ),
        flush=True,
    )


def client_main(args: list[str]) -> None:
    host, port, path, n, expected, wait = args
    raise_nofile(int(n) + 1000)
    _uvloop()
    asyncio.run(_client(host, int(port), path, int(n), int(expected), float(wait)))


# --- the plain websockets broadcast server (a process of its own) ---------------------------


def _bench_frame(seq: int, event_id: int, due: float) -> str:
    data = json.dumps({"seq": seq, "t": due, "text": TEXT}, separators=(",", ":"))
    return f'{{"type":"bench","id":{event_id},"ts":{int(time.time() * 1000)},"data":{data}}}'


async def _plain(port: int) -> None:
    from websockets.asyncio.server import broadcast, serve

    viewers = set()
    next_id = 0

    async def handler(ws):
        nonlocal next_id
        if ws.request.path == "/control":
            async for message in ws:
                order = json.loads(message)
                delay = 1 / order["rate"]
                start, wall = time.monotonic(), time.time()
                for seq in range(order["count"]):
                    await asyncio.sleep(max(0, start + seq * delay - time.monotonic()))
                    next_id += 1
                    # Stamped with when it was due, not when the loop got to it: a server that
                    # falls behind shows it in its latency (no coordinated omission).
                    broadcast(viewers, _bench_frame(seq, next_id, wall + seq * delay))
                await ws.send("done")
            return
        viewers.add(ws)
        try:
            await ws.wait_closed()
        finally:
            viewers.discard(ws)

    async with serve(handler, HOST, port, compression=None, max_queue=None, backlog=4096):
        print("listening", flush=True)
        await asyncio.Future()


def plain_main(args: list[str]) -> None:
    raise_nofile(20000)
    _uvloop()
    asyncio.run(_plain(int(args[0])))


# --- the publisher for the room (a process of its own, like a service) ----------------------


def publish_main(args: list[str], *, type_: str = "bench", text: str = TEXT) -> None:
    """Publish `count` events to a session at `rate` a second, each stamped with its send time."""
    session_id, rate, count = int(args[0]), float(args[1]), int(args[2])
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    import django

    django.setup()
    from live.room.bus import get_bus

    bus = get_bus()
    delay = 1 / rate
    start, wall = time.monotonic(), time.time()
    for seq in range(count):
        time.sleep(max(0, start + seq * delay - time.monotonic()))
        bus.publish(session_id, type_, {"seq": seq, "t": wall + seq * delay, "text": text})
    print("done", flush=True)


# --- the orchestration (inside `python -m bench`) -------------------------------------------


def _seed_session() -> int:
    from django.utils import timezone

    from live.models import LiveSession
    from shopfeed.accounts.models import User

    host, _ = User.objects.get_or_create(
        handle=HOST_HANDLE, defaults={"username": HOST_HANDLE, "is_creator": True}
    )
    session = LiveSession.objects.filter(host=host, title="Fan-out bench").first()
    if session is None:
        session = LiveSession.objects.create(
            host=host, title="Fan-out bench", scheduled_at=timezone.now()
        )
    LiveSession.objects.filter(pk=session.pk).update(
        status=LiveSession.Status.LIVE, started_at=timezone.now(), peak_viewers=0
    )
    return session.pk


def _spawn(args: list[str], env: dict, log) -> subprocess.Popen:
    return subprocess.Popen(
        args,
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE if log is None else log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


_lines: dict[subprocess.Popen, queue.Queue] = {}


def _read_line(proc: subprocess.Popen, prefix: str, timeout: float) -> str:
    """The next line of `proc`'s output that starts with `prefix` (a thread reads each pipe)."""
    import threading

    lines = _lines.get(proc)
    if lines is None:
        lines = _lines[proc] = queue.Queue()

        def pump():
            for line in proc.stdout:
                lines.put(line)
            lines.put("")

        threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if not line:
            break
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
        if time.monotonic() > deadline:
            break
    raise RuntimeError(f"no {prefix.strip()!r} line from {proc.args[3:5]} within {timeout:.0f} s")


def _measure(
    *, name: str, port: int, path: str, viewers: int, clients: int, rate: float, count: int,
    trigger, server_pid: int,
):  # fmt: skip
    from bench.load import LoadResult

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    share = [viewers // clients + (1 if i < viewers % clients else 0) for i in range(clients)]
    procs = [
        _spawn(
            [
                sys.executable,
                "-m",
                "bench.fanout",
                "client",
                HOST,
                str(port),
                path,
                str(n),
                str(count),
                "5",
            ],
            env,
            None,
        )
        for n in share
    ]
    try:
        connect_s = max(float(_read_line(p, "ready ", 300).split()[1]) for p in procs)
        time.sleep(2)  # let the last sockets settle (the room holds new ones ~0.3 s)
        cpu_before = _cpu_seconds(server_pid)
        trigger()
        results = [json.loads(_read_line(p, "result ", count / rate + 180)) for p in procs]
        cpu = _cpu_seconds(server_pid) - cpu_before
    finally:
        for p in procs:
            _stop(p)
    received = sum(r["received"] for r in results)
    gaps = sum(r["gaps"] for r in results)
    first_send = min((r["first_sent"] for r in results if r["first_sent"]), default=time.time())
    last = max(r["last"] for r in results) or time.time()
    seconds = max(1e-6, last - first_send)
    expected = viewers * count
    lost = expected - received + gaps
    latencies = [(q, r["received"] / 1000) for r in results for q in r["quantiles"]]
    result = LoadResult(
        name=name,
        url=f"ws://{HOST}:{port}{path}",
        client=f"raw-ws x{clients}",
        concurrency=viewers,
        seconds=seconds,
        requests=received,
        errors=lost,
        latencies=latencies,
    )
    result.notes.append(
        f"{viewers} viewers: connected in {connect_s:.1f} s; {received:,} of {expected:,} "
        f"delivered, lost {lost}; server CPU {cpu:.1f} s "
        f"({cpu / max(1, received) * 1e6:.1f} us a message)"
    )
    return result


def _room_command(server: str, port: int) -> list[str]:
    """How the room is served: uvicorn's websockets-sansio (production's choice), or another
    server for comparison (BENCH_FANOUT_SERVER=uvicorn-websockets|daphne)."""
    if server == "daphne":
        return [sys.executable, "-m", "daphne", "-b", HOST, "-p", str(port),
                "--no-server-name", "-v", "0", "shopfeed.asgi:application"]  # fmt: skip
    ws = {"uvicorn": "websockets-sansio", "uvicorn-websockets": "websockets"}[server]
    return [sys.executable, "-m", "uvicorn", "shopfeed.asgi:application", "--host", HOST,
            "--port", str(port), "--ws", ws, "--ws-per-message-deflate", "false",
            "--loop", "uvloop", "--lifespan", "off", "--no-access-log", "--log-level",
            "warning", "--backlog", "4096"]  # fmt: skip


def run(*, viewers=None, rate=None, seconds=None, clients=None, **_ignored):
    """The bench entry point (`python -m bench fanout`)."""
    viewer_counts = viewers or [
        int(v) for v in _env("BENCH_FANOUT_VIEWERS", "1000,3000").split(",")
    ]
    rate = rate or float(_env("BENCH_FANOUT_RATE", "20"))
    seconds = seconds or float(_env("BENCH_FANOUT_SECONDS", "10"))
    clients = clients or int(_env("BENCH_FANOUT_CLIENTS", "1"))
    count = int(rate * seconds)
    redis_url = _env("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    raise_nofile(max(viewer_counts) * 2 + 2000)

    import redis

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return [], [f"fanout: skipped, it needs Redis at {redis_url} (BENCH_REDIS_URL): {exc}"]
    session_id = _seed_session()
    r = redis.Redis.from_url(redis_url)
    for key in r.scan_iter(f"{{live:{session_id}}}*"):
        r.delete(key)

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "REDIS_URL": redis_url,
        "PYTHONUNBUFFERED": "1",
    }
    room_port, plain_port = _free_port(), _free_port()
    # Closed in the finally below.
    logs = [
        tempfile.NamedTemporaryFile("w+", prefix=f"bench-fanout-{n}-", suffix=".log")  # noqa: SIM115
        for n in ("room", "plain")
    ]
    if _env("BENCH_FANOUT_ROOM_LOG", ""):  # keep the room's output for a closer look
        logs[0] = open(_env("BENCH_FANOUT_ROOM_LOG", ""), "w+")  # noqa: SIM115
    server = _env("BENCH_FANOUT_SERVER", "uvicorn")
    room = _spawn(_room_command(server, room_port), env, logs[0])
    plain = _spawn([sys.executable, "-m", "bench.fanout", "plain", str(plain_port)], env, logs[1])
    results, notes = [], []
    try:
        _wait_port(room_port, room)
        _wait_port(plain_port, plain)

        def publish_through_bus():
            pub = _spawn(
                [sys.executable, "-m", "bench.fanout", "publish", str(session_id), str(rate),
                 str(count)],
                env, None,
            )  # fmt: skip
            # Returns at once: the clients measure; the publisher paces itself.
            publishers.append(pub)

        def broadcast_in_plain_server():
            from websockets.sync.client import connect

            control = connect(f"ws://{HOST}:{plain_port}/control", compression=None)
            control.send(json.dumps({"rate": rate, "count": count}))
            controls.append(control)

        publishers, controls = [], []
        for n in viewer_counts:
            pair = []
            for label, port, path, trigger, pid in (
                ("plain websockets", plain_port, "/", broadcast_in_plain_server, plain.pid),
                ("live room", room_port, f"/ws/live/{session_id}/", publish_through_bus, room.pid),
            ):
                pair.append(
                    _measure(
                        name=f"fanout {label}",
                        port=port,
                        path=path,
                        viewers=n,
                        clients=clients,
                        rate=rate,
                        count=count,
                        trigger=trigger,
                        server_pid=pid,
                    )
                )
                for p in publishers:
                    p.wait(timeout=60)
                for c in controls:
                    c.close()
                publishers.clear()
                controls.clear()
                time.sleep(1)
            plain_r, room_r = pair
            results += pair
            notes.append(
                f"fanout {n} viewers: live room / plain websockets = "
                f"{room_r.rps / max(1e-9, plain_r.rps):.2f} (messages/s); "
                f"p50 {room_r.p50_ms:.1f} vs {plain_r.p50_ms:.1f} ms, "
                f"p99 {room_r.p99_ms:.1f} vs {plain_r.p99_ms:.1f} ms"
            )
    except BaseException:
        for name, log in zip(("room", "plain"), logs, strict=True):
            log.flush()
            log.seek(0)
            tail = log.read()[-3000:]
            if tail.strip():
                print(f"--- {name} server log ---\n{tail}", file=sys.stderr)
        raise
    finally:
        _stop(room)
        _stop(plain)
        for log in logs:
            log.close()
    notes.insert(
        0,
        f"fanout: {rate:g} events/s for {seconds:g} s to one session; room on uvicorn "
        f"(1 process, uvloop, websockets-sansio, no compression) with the Redis bus "
        f"({redis_url}), published from another process; plain = websockets.broadcast on "
        f"uvloop; {clients} client process(es); 'req/s' = delivered messages/s, "
        f"'errors' = messages lost",
    )
    return results, notes


if __name__ == "__main__":
    role, rest = sys.argv[1], sys.argv[2:]
    {"client": client_main, "plain": plain_main, "publish": publish_main}[role](rest)
