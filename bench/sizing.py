"""What 100,000 viewers in one room need: measured pieces and the sum (`python -m bench sizing`).

Not part of the default `make bench` run (about 90 s). Three measurements, then an estimate:

1. capacity: ONE room process (the project on uvicorn, websockets-sansio, no compression,
   uvloop, the Redis bus) with BENCH_SIZING_VIEWERS real sockets (3,000) and events published
   through the bus from another process at BENCH_SIZING_RATES events/s (20): delivered
   messages/s, p99 latency, lost, the process's CPU per delivered message (us) and its RSS per
   viewer (RSS with the sockets open minus RSS before, divided by the sockets). Beside it, in
   alternating rounds (BENCH_SIZING_ROUNDS, 2; medians), the yardstick: the plain `websockets`
   broadcast server of the fanout bench, same clients, same rate.
2. redis: Redis pub/sub fan-out with BENCH_SIZING_SUBSCRIBERS subscribing connections (34,200:
   a room of 100,000 at 3,000 a process has 34 subscribing processes), each a lightweight
   client that only counts bytes, and a publisher pipelining frames of the room's size as fast
   as it can for 3 s: deliveries/s, bytes/s out of Redis, and Redis's own CPU per delivery
   (INFO cpu), so the bandwidth and CPU per room can be extrapolated.
3. failover: two room processes, BENCH_SIZING_FAILOVER viewers on each (500), events at 20/s;
   one process is SIGKILLed; its viewers reconnect to the other with their last id. Printed: time
   until every one is back (hello) and caught up (has a live event published after it came back,
   with no id missing or doubled since its first hello), p50/p99/max, and gaps/dupes (must be 0).

Then the estimate for BENCH_SIZING_TARGET viewers (100,000) at BENCH_SIZING_FRAMES frames/s
reaching every viewer (30: 20 server events plus chat batched into ~10 frames/s), each process
kept at BENCH_SIZING_BUSY of a core (0.5): sockets per process, processes (= cores), memory,
Redis deliveries/s and bytes/s with one Redis or sharded, and the bytes/s leaving the machines.

The machine is shared; every figure prints the load average beside it and the coordinator
re-measures on a quiet machine. Loopback only; every phase is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.fanout import (
    HOST,
    SETTINGS,
    _cpu_seconds,
    _free_port,
    _read_line,
    _room_command,
    _seed_session,
    _spawn,
    _stop,
    _uvloop,
    _wait_port,
    raise_nofile,
)

FRAME_TEXT = "Just bought the linen shirt in blue, size M! " * 2  # a chat-sized payload


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _q(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


# --- 1. one process's capacity ----------------------------------------------------------------


def _capacity(
    env: dict, session_id: int, viewers: int, rate: float, seconds: float, *, plain: bool
) -> dict:
    """One server process (the room, or the plain `websockets` broadcast yardstick), `viewers`
    sockets (fanout's raw client in two processes), `rate` events/s."""
    port = _free_port()
    count = int(rate * seconds)
    if plain:
        command = [sys.executable, "-m", "bench.fanout", "plain", str(port)]
        path = "/"
    else:
        command, path = _room_command("uvicorn", port), f"/ws/live/{session_id}/"
    with tempfile.TemporaryFile("w+") as log:
        server = _spawn(command, env, log)
        clients, publisher = [], None
        try:
            _wait_port(port, server)
            rss_before = _rss_kib(server.pid)
            share = [viewers // 2 + (1 if i < viewers % 2 else 0) for i in range(2)]
            clients = [
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
            for c in clients:
                _read_line(c, "ready ", 300)
            time.sleep(2)
            rss_after = _rss_kib(server.pid)
            cpu_before = _cpu_seconds(server.pid)
            if plain:
                from websockets.sync.client import connect

                publisher = connect(f"ws://{HOST}:{port}/control", compression=None)
                publisher.send(json.dumps({"rate": rate, "count": count}))
            else:
                publisher = _spawn(
                    [sys.executable, "-m", "bench.fanout", "publish", str(session_id),
                     str(rate), str(count)],
                    env, None,
                )  # fmt: skip
            results = [json.loads(_read_line(c, "result ", seconds + 120)) for c in clients]
            cpu = _cpu_seconds(server.pid) - cpu_before
        finally:
            for c in clients:
                _stop(c)
            if plain and publisher is not None:
                publisher.close()
            elif publisher is not None:
                _stop(publisher)
            _stop(server)
    received = sum(r["received"] for r in results)
    gaps = sum(r["gaps"] for r in results)
    first = min((r["first_sent"] for r in results if r["first_sent"]), default=0)
    last = max(r["last"] for r in results)
    quantiles = sorted(q for r in results for q in r["quantiles"])
    return {
        "server": "plain websockets" if plain else "live room",
        "viewers": viewers,
        "rate": rate,
        "delivered_per_s": received / max(1e-6, last - first),
        "p99_ms": _q(quantiles, 0.99),
        "lost": viewers * count - received + gaps,
        "us_per_message": cpu / max(1, received) * 1e6,
        "rss_per_viewer_kib": (rss_after - rss_before) / viewers,
        "rss_base_mib": rss_before / 1024,
        "load": _load(),
    }


def _median_of(runs: list[dict]) -> dict:
    out = dict(runs[0])
    for key in ("delivered_per_s", "p99_ms", "us_per_message", "rss_per_viewer_kib"):
        out[key] = statistics.median(r[key] for r in runs)
    out["lost"] = sum(r["lost"] for r in runs)
    out["load"] = ", ".join(r["load"] for r in runs)
    return out


# --- 2. Redis pub/sub fan-out ------------------------------------------------------------------


async def _subscribers(url_host: str, port: int, channel: str, n: int, seconds: float):
    """n raw connections SUBSCRIBEd to `channel`; prints the bytes they received."""
    received = 0

    class Sub(asyncio.Protocol):
        def connection_made(self, transport):
            c = channel.encode()
            transport.write(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(c), c))

        def data_received(self, data):
            nonlocal received
            received += len(data)

    loop = asyncio.get_running_loop()
    conns = [await loop.create_connection(Sub, url_host, port) for _ in range(n)]
    print("ready", flush=True)
    await asyncio.sleep(seconds)
    print(f"received {received}", flush=True)
    for transport, _ in conns:
        transport.close()


def subscribers_main(args: list[str]) -> None:
    host, port, channel, n, seconds = args
    raise_nofile(int(n) + 100)
    _uvloop()
    asyncio.run(_subscribers(host, int(port), channel, int(n), float(seconds)))


def _redis_cpu(r) -> float:
    info = r.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def _redis_fanout(redis_url: str, subscribers: int, frame: bytes, seconds: float = 3.0) -> dict:
    import redis

    r = redis.Redis.from_url(redis_url)
    kwargs = r.connection_pool.connection_kwargs
    channel = f"bench-sizing:{os.getpid()}"
    sub = _spawn(
        [sys.executable, "-m", "bench.sizing", "subscribers", kwargs.get("host", HOST),
         str(kwargs.get("port", 6379)), channel, str(subscribers), str(seconds + 4)],
        {**os.environ, "PYTHONUNBUFFERED": "1"}, None,
    )  # fmt: skip
    try:
        _read_line(sub, "ready", 60)
        time.sleep(0.5)
        cpu_before, published = _redis_cpu(r), 0
        started = time.monotonic()
        pipe = r.pipeline(transaction=False)
        while time.monotonic() - started < seconds:
            for _ in range(50):
                pipe.publish(channel, frame)
            pipe.execute()
            published += 50
        took = time.monotonic() - started
        cpu = _redis_cpu(r) - cpu_before
        received = int(_read_line(sub, "received ", seconds + 30))
    finally:
        _stop(sub)
    # On the wire each delivery is a RESP push: *3 $7 message $<len> channel $<len> frame.
    per_delivery = (
        len(b"*3\r\n$7\r\nmessage\r\n")
        + len(f"${len(channel)}\r\n{channel}\r\n")
        + len(f"${len(frame)}\r\n")
        + len(frame)
        + 2
    )
    deliveries = received / per_delivery
    return {
        "subscribers": subscribers,
        "published_per_s": published / took,
        "deliveries_per_s": deliveries / took,
        "mbytes_per_s": received / took / 1e6,
        "redis_us_per_delivery": cpu / max(1.0, deliveries) * 1e6,
        "redis_cpu": cpu / took,
        "load": _load(),
    }


# --- 3. a process killed, its viewers resume on the other ---------------------------------------


class _Resumer(asyncio.Protocol):
    """A viewer that, when its server vanishes, reconnects to `fallback` with its last id."""

    def __init__(self, owner, request_for):
        self.owner = owner
        self.request_for = request_for
        self.buf = b""
        self.open = False
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request_for())

    def connection_lost(self, exc):
        self.owner.lost(self)

    def data_received(self, data: bytes):
        buf = self.buf + data if self.buf else data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            if b" 101 " not in buf[: buf.find(b"\r\n")]:
                self.transport.close()
                return
            self.open = True
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
            if b0 & 0x0F == 1:
                self.owner.frame(buf[start:end])
            pos = end
        self.buf = buf[pos:] if pos < size else b""


class _Viewer:
    def __init__(self, client, home: int):
        self.client, self.port = client, home
        self.start = None  # first hello's id
        self.last = None
        self.gaps = self.dupes = 0
        self.cut_at = self.back_at = self.caught_at = None
        self.resumed = False

    def request(self) -> bytes:
        query = f"?last_id={self.last}" if self.resumed else ""
        key = base64.b64encode(os.urandom(16)).decode()
        return (
            f"GET /ws/live/{self.client.session_id}/{query} HTTP/1.1\r\n"
            f"Host: {HOST}:{self.port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: http://{HOST}:{self.port}\r\n\r\n"
        ).encode()

    def frame(self, payload: bytes) -> None:
        i = payload.find(b'"id":') + 5
        event_id = int(payload[i : payload.find(b",", i)])
        if payload.startswith(b'{"type":"hello"'):
            if self.start is None:
                self.start = self.last = event_id
            elif self.resumed and self.back_at is None:
                self.back_at = time.time()
            return
        if self.last is not None:
            if event_id <= self.last:
                self.dupes += 1
                return
            if event_id != self.last + 1:
                self.gaps += 1
        self.last = event_id
        if self.back_at is not None and self.caught_at is None:
            j = payload.find(b'"ts":') + 5
            ts = int(payload[j : payload.find(b",", j)]) / 1000
            if ts >= self.back_at:
                self.caught_at = time.time()

    def lost(self, proto) -> None:
        # The socket's server vanished (the kill; the client learns of it from its sockets):
        # come back once, on the other process, from the last id seen.
        if not self.resumed and not self.client.closing:
            self.cut_at = time.time()
            self.resumed = True
            self.port = self.client.fallback
            self.client.reconnect(self)


class _FailoverClient:
    def __init__(self, session_id: int, ports: list[int], n: int, fallback: int):
        self.session_id, self.fallback = session_id, fallback
        self.closing = False
        self.viewers = [_Viewer(self, ports[i % len(ports)]) for i in range(n)]
        self.loop = asyncio.get_running_loop()

    async def connect(self, v: _Viewer) -> None:
        for attempt in range(10):
            try:
                await self.loop.create_connection(lambda: _Resumer(v, v.request), HOST, v.port)
                return
            except OSError:
                await asyncio.sleep(0.05 * (attempt + 1))

    def reconnect(self, v: _Viewer) -> None:
        self.loop.create_task(self.connect(v))


async def _failover_client(session_id: int, ports: list[int], n: int, fallback: int) -> None:
    client = _FailoverClient(session_id, ports, n, fallback)
    gate = asyncio.Semaphore(64)

    async def one(v):
        async with gate:
            await client.connect(v)

    await asyncio.gather(*(one(v) for v in client.viewers))
    while any(v.start is None for v in client.viewers):
        await asyncio.sleep(0.1)
    print("ready", flush=True)
    line = await client.loop.run_in_executor(None, sys.stdin.readline)  # "killed <t>"
    killed_at = float(line.split()[1])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        moved = [v for v in client.viewers if v.resumed]
        if len(moved) >= n // 2 and all(v.caught_at for v in moved):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)
    client.closing = True
    moved = [v for v in client.viewers if v.resumed]
    print(
        "result "
        + json.dumps(
            {
                "moved": len(moved),
                "back": [v.back_at - killed_at for v in moved if v.back_at],
                "caught": [v.caught_at - killed_at for v in moved if v.caught_at],
                "gaps": sum(v.gaps for v in client.viewers),
                "dupes": sum(v.dupes for v in client.viewers),
            }
        ),
        flush=True,
    )


def failover_main(args: list[str]) -> None:
    session_id, a, b, n = (int(x) for x in args)
    raise_nofile(n * 2 + 500)
    _uvloop()
    asyncio.run(_failover_client(session_id, [a, b], n, b))


def _failover(env: dict, session_id: int, per_process: int, rate: float) -> dict:
    import subprocess

    ports = [_free_port(), _free_port()]
    with tempfile.TemporaryFile("w+") as log_a, tempfile.TemporaryFile("w+") as log_b:
        servers = [
            _spawn(_room_command("uvicorn", p), env, log)
            for p, log in zip(ports, (log_a, log_b), strict=True)
        ]
        client = publisher = None
        try:
            for p, s in zip(ports, servers, strict=True):
                _wait_port(p, s)
            client = subprocess.Popen(
                [sys.executable, "-m", "bench.sizing", "failover", str(session_id),
                 str(ports[0]), str(ports[1]), str(per_process * 2)],
                env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                start_new_session=True,
            )  # fmt: skip
            _read_line(client, "ready", 120)
            publisher = _spawn(
                [sys.executable, "-m", "bench.fanout", "publish", str(session_id), str(rate),
                 str(int(rate * 20))],
                env, None,
            )  # fmt: skip
            time.sleep(2)
            os.kill(servers[0].pid, signal.SIGKILL)
            servers[0].wait(10)
            client.stdin.write(f"killed {time.time()}\n")
            client.stdin.flush()
            result = json.loads(_read_line(client, "result ", 60))
        finally:
            for proc in (publisher, client, *servers):
                if proc is not None:
                    _stop(proc)
    result["load"] = _load()
    return result


# --- the estimate ------------------------------------------------------------------------------


def _estimate(cap: dict, fan: list[dict], frame_bytes: int) -> list[str]:
    target = int(_env("BENCH_SIZING_TARGET", "100000"))
    frames = float(_env("BENCH_SIZING_FRAMES", "30"))
    busy = float(_env("BENCH_SIZING_BUSY", "0.5"))
    # A process that keeps up writes each frame to each socket on its own; one that has fallen
    # behind writes several frames in one write and pays less a frame. Plan on the larger of
    # this run's figure (trusted only if its p99 met the 250 ms target) and the unbatched cost
    # measured on a quiet machine (BENCH_SIZING_US, 8.3 us: the fanout bench at 3,000 viewers,
    # 20 events/s, p99 30 ms; see live/room/hub.py).
    quiet_us = float(_env("BENCH_SIZING_US", "8.3"))
    measured = cap["us_per_message"]
    trusted = not cap["lost"] and cap["p99_ms"] < 250
    us = max(quiet_us, measured) if trusted else quiet_us
    why = (
        f"this run's {measured:.1f} us"
        if us == measured
        else f"{quiet_us:.1f} us unbatched (this run: {measured:.1f} us at p99 "
        f"{cap['p99_ms']:.0f} ms{', behind: batched' if not trusted else ''})"
    )
    per_process = int(busy * 1e6 / (us * frames))
    processes = math.ceil(target / per_process)
    memory_gib = (
        target * cap["rss_per_viewer_kib"] * 1024 + processes * cap["rss_base_mib"] * 2**20
    ) / 2**30
    deliveries = processes * frames
    redis_us = statistics.median(f["redis_us_per_delivery"] for f in fan)
    redis_core = deliveries * redis_us / 1e6
    out_mbit = target * frames * (frame_bytes + 2) * 8 / 1e6
    return [
        f"sizing: {target:,} viewers at {frames:g} frames/s each ({frame_bytes} B frames), "
        f"a room process kept at {busy:.0%} of a core:",
        f"  per process: {why} of CPU a delivered frame -> {per_process:,} sockets "
        f"({per_process * frames:,.0f} frames/s)",
        f"  processes (one core each): {processes}; memory {memory_gib:.1f} GiB "
        f"({cap['rss_per_viewer_kib']:.1f} KiB a viewer + {cap['rss_base_mib']:.0f} MiB a process; "
        f"kernel socket buffers extra)",
        f"  Redis: {processes} subscribing processes x {frames:g} = {deliveries:,.0f} "
        f"deliveries/s, "
        f"{deliveries * (frame_bytes + 40) / 1e6:.2f} MB/s, ~{redis_core:.2%} of one Redis core "
        f"at "
        f"{redis_us:.2f} us a delivery: one Redis suffices for the room's fan-out (no fan-out "
        f"tier); spread many rooms with sharded pub/sub (SSUBSCRIBE, Redis 7 cluster) by "
        f"session hash tag",
        f"  leaving the web tier: {out_mbit / 1000:.1f} Gbit/s of WebSocket frames "
        f"({target:,} x {frames:g} x {frame_bytes + 2} B): the real limit is NICs, so several "
        f"machines behind the proxy",
    ]


def run(**_ignored):
    redis_url = _env("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    viewers = int(_env("BENCH_SIZING_VIEWERS", "3000"))
    rates = [float(x) for x in _env("BENCH_SIZING_RATES", "20").split(",")]
    seconds = float(_env("BENCH_SIZING_SECONDS", "8"))
    subs = [int(x) for x in _env("BENCH_SIZING_SUBSCRIBERS", "34,200").split(",")]
    per_process = int(_env("BENCH_SIZING_FAILOVER", "500"))
    rounds = max(1, min(6, int(_env("BENCH_SIZING_ROUNDS", "2"))))
    raise_nofile(viewers * 2 + 2000)

    import redis

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return [], [f"sizing: skipped, it needs Redis at {redis_url} (BENCH_REDIS_URL): {exc}"]
    session_id = _seed_session()
    r = redis.Redis.from_url(redis_url)
    for key in r.scan_iter(f"{{live:{session_id}}}*"):
        r.delete(key)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": SETTINGS, "REDIS_URL": redis_url,
           "PYTHONUNBUFFERED": "1", "LIVE_REPLAY_WINDOW": "2000"}  # fmt: skip
    notes = [f"sizing: start, {_load()}"]
    caps = []
    for rate in rates:
        # Rounds alternate the yardstick and the room (plain-room, room-plain, ...), so that
        # whatever else loads the machine weighs on both alike; medians are reported.
        runs: dict[bool, list[dict]] = {True: [], False: []}
        for n in range(rounds):
            for plain in (True, False) if n % 2 == 0 else (False, True):
                runs[plain].append(_capacity(env, session_id, viewers, rate, seconds, plain=plain))
        room, yardstick = _median_of(runs[False]), _median_of(runs[True])
        caps.append(room)
        for cap in (yardstick, room):
            notes.append(
                f"sizing capacity: {cap['server']}, 1 process, {viewers:,} sockets, {rate:g} "
                f"events/s, median of {rounds}: {cap['delivered_per_s']:,.0f} messages/s, p99 "
                f"{cap['p99_ms']:.0f} ms, lost {cap['lost']}, {cap['us_per_message']:.1f} us CPU "
                f"a message, {cap['rss_per_viewer_kib']:.1f} KiB RSS a viewer ({cap['load']})"
            )
        notes.append(
            f"sizing capacity: room / plain CPU a message = "
            f"{room['us_per_message'] / max(1e-9, yardstick['us_per_message']):.2f}"
        )
    frame = json.dumps(
        {"type": "bench", "id": 123456, "ts": int(time.time() * 1000),
         "data": {"seq": 1, "t": time.time(), "text": FRAME_TEXT}},
        separators=(",", ":"),
    ).encode()  # fmt: skip
    fan = []
    for n in subs:
        f = _redis_fanout(redis_url, n, frame)
        fan.append(f)
        notes.append(
            f"sizing redis: {n} subscribers: {f['published_per_s']:,.0f} published/s -> "
            f"{f['deliveries_per_s']:,.0f} deliveries/s, {f['mbytes_per_s']:.1f} MB/s out, Redis "
            f"CPU {f['redis_cpu']:.0%} of a core, {f['redis_us_per_delivery']:.2f} us a "
            f"delivery ({f['load']})"
        )
    fo = _failover(env, session_id, per_process, 20)
    back, caught = fo["back"], fo["caught"]
    notes.append(
        f"sizing failover: 2 processes x {per_process} viewers, 20 events/s, one SIGKILLed: "
        f"{fo['moved']} moved, {len(caught)} caught up; back p50/p99/max "
        f"{_q(back, 0.5):.2f}/{_q(back, 0.99):.2f}/{max(back, default=float('nan')):.2f} s, "
        f"caught up p50/p99/max {_q(caught, 0.5):.2f}/{_q(caught, 0.99):.2f}/"
        f"{max(caught, default=float('nan')):.2f} s; gaps {fo['gaps']}, doubled {fo['dupes']} "
        f"({fo['load']})"
    )
    # The estimate uses the run at the lowest rate that lost nothing (CPU a message falls as
    # frames batch up at higher rates, which would flatter it).
    good = [c for c in caps if not c["lost"]] or caps
    notes += _estimate(good[0], fan, len(frame))
    results = []
    if fo["gaps"] or fo["dupes"] or len(caught) < fo["moved"]:
        from bench.load import LoadResult

        errors = fo["gaps"] + fo["dupes"] + fo["moved"] - len(caught)
        results.append(
            LoadResult(
                name="sizing failover",
                url="",
                client="raw-ws",
                concurrency=per_process * 2,
                seconds=1,
                requests=0,
                errors=errors,
            )
        )
    return results, notes


if __name__ == "__main__":
    role, rest = sys.argv[1], sys.argv[2:]
    {"subscribers": subscribers_main, "failover": failover_main}[role](rest)
