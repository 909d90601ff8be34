"""`python -m bench room_headroom`: the highest server event rate 3,000 viewers get with p99 under
250 ms and nothing lost, for the live room and for the plain `websockets` broadcast server, in
the same run.

Both servers get their viewers once (BENCH_ROOM_VIEWERS, 3,000 each, BENCH_ROOM_CLIENTS
processes each, 2); then the event rate climbs through BENCH_HEADROOM_RATES (events/s,
10,20,40,60,90,120,160,200,250), each step BENCH_HEADROOM_SECONDS long (5), the two servers taking
turns within each step (plain-room, then room-plain, ...). A step passes when every viewer got
every event (no gap in the ids, no socket closed) with p99 latency, from the time the event was
due to its receipt, under BENCH_HEADROOM_P99_MS (250). A server's ramp stops at its first failed
step (its viewers are then disconnected, so that its backlog does not weigh on the other);
its headroom is the last rate that passed. Events go through the room's real path (the bus
from another process, Redis pub/sub, the hub); the plain server broadcasts them itself.
The client processes share the machine's cores with the servers, Redis and PostgreSQL: at the
top rates they are part of what is measured (the load average is printed per step).
"""

from __future__ import annotations

import json
import os
import sys
import time

from bench.room import (
    HOST,
    _env,
    _median,
    _read_line,
    _reset_redis,
    _seed,
    _Servers,
    _spawn,
    _spawn_client,
    _stop,
    raise_nofile,
)


def _viewer_set(port: int, path: str, n: int, clients: int, env: dict) -> list:
    share = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]
    procs = [_spawn_client(["viewers", str(port), path, str(k)], env) for k in share]
    for p in procs:
        _read_line(p, "ready ", 300)
    return procs


def _step(label, procs, trigger, rate: float, count: int, p99_limit: float) -> dict:
    load = os.getloadavg()[0]
    finish = trigger(rate, count)
    finish()  # the publisher has sent its last event
    for p in procs:
        p.stdin.write("measure\n")
        p.stdin.flush()
    seen = [json.loads(_read_line(p, "result ", 120)) for p in procs]
    viewers = sum(s["viewers"] - s["closed"] for s in seen)
    received = sum(s["events"] for s in seen)
    gaps = sum(s["gaps"] for s in seen)
    closed = sum(s["closed"] for s in seen)
    lost = max(0, count * sum(s["viewers"] for s in seen) - received) + gaps
    from bench.load import weighted_percentile

    # Each of a process's 1,000 quantiles stands for 1/1000 of its events.
    latencies = [(q, s["events"] / 1000) for s in seen for q in s["quantiles"]]
    p50, p99 = weighted_percentile(latencies, 50), weighted_percentile(latencies, 99)
    passed = lost == 0 and closed == 0 and p99 < p99_limit
    return {"label": label, "rate": rate, "viewers": viewers, "received": received,
            "lost": lost, "closed": closed, "p50": p50, "p99": p99, "passed": passed,
            "load": load, "latencies": latencies}  # fmt: skip


def run(**_ignored):
    from bench.load import LoadResult

    n = int(_env("BENCH_ROOM_VIEWERS", "3000"))
    clients = int(_env("BENCH_ROOM_CLIENTS", "2"))
    ramp = _env("BENCH_HEADROOM_RATES", "10,20,40,60,90,120,160,200,250")
    rates = [float(r) for r in ramp.split(",")]
    seconds = float(_env("BENCH_HEADROOM_SECONDS", "5"))
    p99_limit = float(_env("BENCH_HEADROOM_P99_MS", "250"))
    redis_url = _env("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    raise_nofile(n * 4 + 2000)

    import redis

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return [], [f"room_headroom: skipped, it needs Redis at {redis_url}: {exc}"]
    session_id, _ = _seed(0)
    _reset_redis(redis_url, session_id)
    servers = _Servers(redis_url, hello_size=700)
    env = servers.env
    room_path = f"/ws/live/{session_id}/"

    def room_trigger(rate, count):
        pub = _spawn([sys.executable, "-m", "bench.room", "publish", str(session_id), str(rate),
                      str(count)], env, None)  # fmt: skip
        return lambda: pub.wait(timeout=count / rate + 60)

    def plain_trigger(rate, count):
        from websockets.sync.client import connect

        control = connect(f"ws://{HOST}:{servers.plain_port}/control", open_timeout=30)
        control.send(json.dumps({"rate": rate, "count": count}))

        def finish():
            try:
                control.recv(timeout=count / rate + 120)  # "done": its last broadcast is out
            finally:
                control.close()

        return finish

    sets: dict[str, list] = {}
    steps: list[dict] = []
    failed = True
    try:
        sets["plain websockets"] = _viewer_set(servers.plain_port, "/", n, clients, env)
        sets["live room"] = _viewer_set(servers.room_port, room_path, n, clients, env)
        time.sleep(2)
        triggers = {"plain websockets": plain_trigger, "live room": room_trigger}
        climbing = {"plain websockets", "live room"}
        for i, rate in enumerate(rates):
            order = ["plain websockets", "live room"]
            if i % 2:
                order.reverse()
            for label in order:
                if label not in climbing:
                    continue
                count = max(1, int(rate * seconds))
                step = _step(label, sets[label], triggers[label], rate, count, p99_limit)
                steps.append(step)
                print(
                    f"  headroom {label} {rate:g} events/s: p50/p99 {step['p50']:.0f}/"
                    f"{step['p99']:.0f} ms, lost {step['lost']}, closed {step['closed']}, "
                    f"{'pass' if step['passed'] else 'FAIL'}; load average {step['load']:.2f}",
                    flush=True,
                )
                if not step["passed"]:
                    climbing.discard(label)
                    for p in sets[label]:  # its backlog must not weigh on the other's steps
                        _stop(p)
                time.sleep(1)
            if not climbing:
                break
        failed = False
    finally:
        for procs in sets.values():
            for p in procs:
                _stop(p)
        servers.stop(failed)
    return _report(steps, n, seconds, p99_limit, LoadResult)


def _report(steps, n, seconds, p99_limit, LoadResult):
    results, notes = [], []
    best = {}
    for label in ("plain websockets", "live room"):
        mine = [s for s in steps if s["label"] == label]
        passed = [s for s in mine if s["passed"]]
        top = passed[-1] if passed else None
        best[label] = top["rate"] if top else 0.0
        if top is not None:
            results.append(
                LoadResult(
                    name=f"headroom {label} at {top['rate']:g} events/s",
                    url="",
                    client="raw-ws",
                    concurrency=n,
                    seconds=seconds,
                    requests=top["received"],
                    errors=0,
                    latencies=top["latencies"],
                )
            )
        first_fail = next((s for s in mine if not s["passed"]), None)
        why = (
            f"first failing step {first_fail['rate']:g} events/s (p99 {first_fail['p99']:.0f} "
            f"ms, lost {first_fail['lost']}, closed {first_fail['closed']})"
            if first_fail
            else "never failed within the ramp (raise BENCH_HEADROOM_RATES)"
        )
        notes.append(
            f"headroom {label}: {best[label]:g} events/s to {n} viewers "
            f"({best[label] * n:,.0f} messages/s) with p99 < {p99_limit:g} ms and 0 lost; {why}; "
            f"load average during its steps {_median([s['load'] for s in mine]):.2f}"
        )
    ratio = (
        f"{best['live room'] / best['plain websockets']:.2f}"
        if best["plain websockets"]
        else "n/a (the plain server failed its first step: lower BENCH_HEADROOM_RATES)"
    )
    notes.insert(
        0,
        f"room headroom: {n} viewers per server, event rate ramped in steps of {seconds:g} s, "
        f"servers taking turns within each step; live room / plain websockets = {ratio}",
    )
    return results, notes
