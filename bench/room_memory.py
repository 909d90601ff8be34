"""`python -m bench room_memory`: server memory per idle viewer, the live room against the plain
`websockets` server, in the same run (target for the room: at most 20 KiB a viewer).

Per round (BENCH_ROOM_ROUNDS, 2), both servers are started fresh; each gets one viewer first (so
that what a process loads once, on its first socket, is not counted), then
BENCH_ROOM_VIEWERS (3,000) idle viewers (BENCH_ROOM_CLIENTS processes, 2); 3 s later the
resident set size (VmRSS) of the server process is read again. Per viewer = (after - before) /
viewers. The servers take turns (plain-room, then room-plain). Kernel socket buffers are not
in a process's RSS and are not counted, for either server.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.room import (
    _env,
    _median,
    _read_line,
    _reset_redis,
    _seed,
    _Servers,
    _spawn_client,
    _stop,
    raise_nofile,
)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def _measure(port: int, path: str, pid: int, n: int, clients: int, env: dict) -> dict:
    warm = _spawn_client(["viewers", str(port), path, "1"], env)
    procs = []
    try:
        _read_line(warm, "ready ", 60)
        time.sleep(2)
        before = rss_kib(pid)
        share = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]
        procs = [_spawn_client(["viewers", str(port), path, str(k)], env) for k in share]
        connected = sum(int(_read_line(p, "ready ", 300).split()[0]) for p in procs)
        time.sleep(3)
        after = rss_kib(pid)
    finally:
        for p in [warm, *procs]:
            _stop(p)
    return {
        "before": before,
        "after": after,
        "viewers": connected,
        "per_viewer": (after - before) / max(1, connected),
        "load": os.getloadavg()[0],
    }


def run(**_ignored):
    n = int(_env("BENCH_ROOM_VIEWERS", "3000"))
    clients = int(_env("BENCH_ROOM_CLIENTS", "2"))
    rounds = int(_env("BENCH_ROOM_ROUNDS", "2"))
    redis_url = _env("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    raise_nofile(n * 2 + 2000)

    import redis

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return [], [f"room_memory: skipped, it needs Redis at {redis_url}: {exc}"]
    session_id, _ = _seed(0)
    runs: dict[str, list[dict]] = {"plain websockets": [], "live room": []}
    for r in range(rounds):
        _reset_redis(redis_url, session_id)
        servers = _Servers(redis_url, hello_size=700)
        failed = True
        try:
            order = [
                ("plain websockets", servers.plain_port, "/", servers.plain.pid),
                ("live room", servers.room_port, f"/ws/live/{session_id}/", servers.room.pid),
            ]
            if r % 2:
                order.reverse()
            for label, port, path, pid in order:
                runs[label].append(_measure(port, path, pid, n, clients, servers.env))
            failed = False
        finally:
            servers.stop(failed)
    notes = [
        f"room memory: RSS of the server process before and after {n} idle viewers joined "
        "(after one warm-up viewer), fresh servers each round; kernel socket buffers not included"
    ]
    for label, mine in runs.items():
        for i, m in enumerate(mine):
            notes.append(
                f"room memory {label} #{i + 1}: {m['before'] / 1024:.1f} -> {m['after'] / 1024:.1f}"
                f" MiB for {m['viewers']} viewers = {m['per_viewer']:.1f} KiB a viewer; load "
                f"average {m['load']:.2f}"
            )
        notes.append(
            f"room memory {label} median: {_median([m['per_viewer'] for m in mine]):.1f} KiB a "
            "viewer" + (" (target: at most 20 KiB)" if label == "live room" else "")
        )
    return [], notes
