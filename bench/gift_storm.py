"""`python -m bench gift_storm`: a gift storm in a busy room, beside a plain `websockets` server
measured in the same run by the same clients.

N viewers (BENCH_GIFT_VIEWERS, 3,000) watch; S signed-in senders (BENCH_GIFT_SENDERS, 200, API
tokens, adults with coins) offer R gifts/s in total for T seconds (BENCH_GIFT_SECONDS, 10), for
each R in BENCH_GIFT_RATES (100,300,500: the rate where it breaks is the first that misses the
target), round-robin over the senders, every 20th a big gift (500 coins, its own event) and the
rest roses (1 coin, combo-able); meanwhile a separate process publishes BENCH_GIFT_EVENT_RATE
(20) server events/s through the bus, as services do. Per run:

- committed sends/s (acks received / T) and ack p50/p99 (send to `gift.ack`; target at 300/s:
  every send committed with ack p99 < 250 ms), refusals by code, unanswered sends;
- gift events received per viewer per second (combos keep it bounded);
- the other room events' latency at the viewers p50/p99 (target < 250 ms), lost events, gaps;
- (room only) the money: the senders' wallets lost exactly the coins of the GiftSend rows of the
  run, one row per acknowledged send (0 lost, 0 doubled debits).

The yardstick is a plain `websockets` server that acknowledges each send at once and broadcasts
every one to every socket (no database, no combos): what a gift costs with no debit at all, and
what an uncoalesced storm costs viewers. Rounds alternate (plain-room, room-plain), each printing
the load average. The room is the project on uvicorn (1 process, websockets-sansio, uvloop) with
the Redis bus (BENCH_REDIS_URL) and the bench database, and one `manage.py gift_writer` process
(with Redis a send is reserved by one script and acknowledged once the writer committed it).
Options: BENCH_GIFT_VIEWERS, BENCH_GIFT_SENDERS, BENCH_GIFT_RATES, BENCH_GIFT_SECONDS,
BENCH_GIFT_ROUNDS (1), BENCH_GIFT_CLIENTS (2 viewer processes), BENCH_GIFT_EVENT_RATE,
BENCH_ROOM_LOG.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections import Counter

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
from bench.room import NOTICE, _Conn, _connect, _frame_id, _quantiles, _request

HOST_HANDLE = "benchgifthost"
SENDER = "benchgifter{}"
BIG_EVERY = 20  # every 20th send is a big gift
START_COINS = 1_000_000


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


# --- clients -------------------------------------------------------------------------------------


class _Viewer(_Conn):
    def __init__(self, request: bytes, stats: dict):
        super().__init__(request)
        self.stats = stats
        self.last_id = None

    def on_text(self, buf, start, end):
        stats = self.stats
        if buf.startswith(b'{"type":"gift.ack"', start) or buf.startswith(
            b'{"type":"error"', start
        ):
            return  # a sender's own answers carry no event id
        event_id = _frame_id(buf, start)
        if buf.startswith(b'{"type":"hello"', start):
            self.last_id = event_id
            return
        if self.last_id is not None and event_id != self.last_id + 1:
            stats["gaps"] += 1
        self.last_id = event_id
        if buf.startswith(b'{"type":"gift', start):
            stats["gifts"] += 1
            now = time.monotonic()
            stats["first"] = stats["first"] or now
            stats["gift_last"] = now
        elif buf.startswith(b'{"type":"notice"', start):
            i = buf.index(b'"t":', start) + 4
            sent = float(buf[i : buf.index(b",", i)])
            stats["events"] += 1
            stats["latencies"].append((time.time() - sent) * 1000)
        stats["last"] = time.monotonic()


async def _viewers(port: int, path: str, n: int) -> None:
    stats = {
        "gifts": 0,
        "events": 0,
        "gaps": 0,
        "latencies": array("d"),
        "last": 0.0,
        "first": 0.0,
        "gift_last": 0.0,
    }
    gate = asyncio.Semaphore(256)

    async def one():
        async with gate:
            return await _connect(lambda: _Viewer(_request(path, port, origin=True), stats), port)

    viewers = [v for v in await asyncio.gather(*(one() for _ in range(n))) if v is not None]
    print(f"ready {len(viewers)}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    # Until 3 s of quiet, or 40 s at most (a server far behind is still sending: what has not
    # arrived by then counts as lost).
    told = time.monotonic()
    while time.monotonic() - stats["last"] < 3 and time.monotonic() - told < 40:
        await asyncio.sleep(0.2)
    print(
        "result "
        + json.dumps(
            {
                "viewers": len(viewers),
                "closed": sum(1 for v in viewers if v.closed),
                "gifts": stats["gifts"],
                "gift_seconds": max(1e-3, stats["gift_last"] - stats["first"]),
                "events": stats["events"],
                "gaps": stats["gaps"],
                "quantiles": _quantiles(stats["latencies"]),
            }
        ),
        flush=True,
    )
    for v in viewers:
        v.transport.close()


class _Sender(_Conn):
    def __init__(self, request: bytes, stats: dict):
        super().__init__(request)
        self.stats = stats
        self.sent: dict[str, tuple[float, int]] = {}

    def on_text(self, buf, start, end):
        if buf.startswith(b'{"type":"gift.ack"', start):
            i = buf.index(b'"client_token":"', start) + 16
            token = buf[i : buf.index(b'"', i)].decode()
            got = self.sent.pop(token, None)
            if got is not None:
                self.stats["rtts"].append((time.monotonic() - got[0]) * 1000)
                self.stats["coins"] += got[1]
        elif buf.startswith(b'{"type":"error"', start):
            i = buf.index(b'"code":"', start) + 8
            self.stats["refused"][buf[i : buf.index(b'"', i)].decode()] += 1
            i = buf.find(b'"ref":"', start, end)
            if i >= 0:
                i += 7
                self.sent.pop(buf[i : buf.index(b'"', i)].decode(), None)

    def gift(self, token: str, gift_id: int, coins: int) -> None:
        self.sent[token] = (time.monotonic(), coins)
        payload = {"action": "gift.send", "ref": token, "gift": gift_id, "count": 1}
        payload["client_token"] = token
        self.send_text(json.dumps(payload))


async def _senders(port: int, paths: list[str], rate: float, seconds: float, spec: dict) -> None:
    stats = {"rtts": array("d"), "refused": Counter(), "coins": 0}
    senders = []
    for path in paths:
        conn = await _connect(lambda p=path: _Sender(_request(p, port, origin=False), stats), port)
        if conn is not None:
            senders.append(conn)
    print(f"ready {len(senders)}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await asyncio.sleep(1.0)  # past the room's resume grace
    loop = asyncio.get_running_loop()
    start = loop.time()
    total = int(rate * seconds)
    for n in range(total):
        await asyncio.sleep(max(0, start + n / rate - loop.time()))
        big = n % BIG_EVERY == BIG_EVERY - 1
        gift_id, coins = (spec["big"], spec["big_coins"]) if big else (spec["rose"], 1)
        senders[n % len(senders)].gift(f"{spec['prefix']}-{n}", gift_id, coins)
    deadline = loop.time() + 30
    while loop.time() < deadline and any(s.sent for s in senders):
        await asyncio.sleep(0.1)
    print(
        "result "
        + json.dumps(
            {
                "senders": len(senders),
                "sent": total,
                "acked": len(stats["rtts"]),
                "coins": stats["coins"],
                "refused": dict(stats["refused"]),
                "unanswered": sum(len(s.sent) for s in senders),
                "quantiles": _quantiles(stats["rtts"]),
            }
        ),
        flush=True,
    )
    for s in senders:
        s.transport.close()


def client_main(args: list[str]) -> None:
    role, port = args[0], int(args[1])
    raise_nofile(20000)
    _uvloop()
    if role == "viewers":
        asyncio.run(_viewers(port, args[2], int(args[3])))
    else:
        rate, seconds, paths, spec = float(args[2]), float(args[3]), args[4], args[5]
        asyncio.run(_senders(port, json.loads(paths), rate, seconds, json.loads(spec)))


# --- the plain websockets yardstick -----------------------------------------------------------


async def _plain(port: int) -> None:
    from websockets.asyncio.server import broadcast, serve

    sockets = set()
    next_id = 0

    def envelope(type_: str, data: dict) -> str:
        nonlocal next_id
        next_id += 1
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        return f'{{"type":"{type_}","id":{next_id},"ts":{int(time.time() * 1000)},"data":{body}}}'

    async def handler(ws):
        if ws.request.path == "/control":
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
        await ws.send(f'{{"type":"hello","id":{next_id},"ts":0,"data":{{}}}}')
        sockets.add(ws)
        try:
            async for message in ws:  # a sender: ack it, show the gift to everyone
                frame = json.loads(message)
                data = {
                    "sender": {"handle": "x", "name": "X"},
                    "gift": {"id": frame.get("gift"), "name": "Rose", "coins": 1},
                    "count": 1,
                }
                broadcast(sockets, envelope("gift", data))
                ack = {"client_token": frame.get("client_token"), "balance": 0}
                frame = {"type": "gift.ack", "ts": 0, "data": ack}
                await ws.send(json.dumps(frame, separators=(",", ":")))
        finally:
            sockets.discard(ws)

    async with serve(handler, HOST, port, compression=None, max_queue=None, backlog=4096):
        print("listening", flush=True)
        await asyncio.Future()


def plain_main(args: list[str]) -> None:
    raise_nofile(20000)
    _uvloop()
    asyncio.run(_plain(int(args[0])))


# --- the orchestration (inside `python -m bench`) ----------------------------------------------


def _image():
    from io import BytesIO

    from django.core.files.base import ContentFile
    from PIL import Image

    out = BytesIO()
    Image.new("RGB", (16, 16), (220, 40, 80)).save(out, "PNG")
    return ContentFile(out.getvalue(), name="gift.png")


def _seed(senders: int) -> dict:
    from datetime import date

    from django.db import connection
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from gifts import wallet
    from gifts.models import Gift
    from live.models import LiveSession
    from shopfeed.accounts.models import User

    adult = date(1990, 1, 1)
    host, _ = User.objects.get_or_create(
        handle=HOST_HANDLE,
        defaults={"username": HOST_HANDLE, "is_creator": True, "birth_date": adult},
    )
    session = LiveSession.objects.filter(host=host, title="Gift storm bench").first()
    if session is None:
        session = LiveSession.objects.create(
            host=host, title="Gift storm bench", scheduled_at=timezone.now()
        )
    LiveSession.objects.filter(pk=session.pk).update(
        status=LiveSession.Status.LIVE, started_at=timezone.now()
    )
    gifts = {}
    for slug, name, coins, combo in (
        ("bench-rose", "Rose", 1, True),
        ("bench-crown", "Crown", 500, False),
    ):
        gift = Gift.objects.filter(slug=slug).first()
        if gift is None:
            gift = Gift.objects.create(
                slug=slug, name=name, coins=coins, is_comboable=combo, image=_image()
            )
        gifts[slug] = gift
    tokens, users = [], []
    for n in range(senders):
        handle = SENDER.format(n)
        user, _ = User.objects.get_or_create(
            handle=handle, defaults={"username": handle, "birth_date": adult}
        )
        balance = wallet.wallet_balance(user)
        if balance < START_COINS // 2:
            wallet.credit_coins(
                user=user,
                coins=START_COINS - balance,
                reference=f"bench:coins:{user.pk}:{time.time_ns()}",
                kind="coin_bench_credit",
                memo="gift storm bench coins",
            )
        tokens.append(Token.objects.get_or_create(user=user)[0].key)
        users.append(user.pk)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "session": session.pk,
        "host": host.pk,
        "tokens": tokens,
        "users": users,
        "rose": gifts["bench-rose"].pk,
        "big": gifts["bench-crown"].pk,
        "big_coins": gifts["bench-crown"].coins,
    }


def _balances(users: list[int]) -> int:
    from gifts.wallet import COIN
    from orders.ledger.models import LedgerAccount

    return sum(
        LedgerAccount.objects.filter(
            kind=LedgerAccount.Kind.COIN_WALLET, currency=COIN, user_id__in=users
        ).values_list("balance_amount", flat=True)
    )


def _money_check(seed: dict, prefix: str, before: int) -> dict:
    from django.db.models import Count, Sum

    from gifts.models import GiftSend

    rows = GiftSend.objects.filter(
        sender_id__in=seed["users"], client_token__startswith=f"{prefix}-"
    ).aggregate(n=Count("pk"), coins=Sum("coins_total"))
    return {
        "rows": rows["n"],
        "row_coins": rows["coins"] or 0,
        "debited": before - _balances(seed["users"]),
    }


def _spawn_client(args: list[str], env: dict):
    return subprocess.Popen(
        [sys.executable, "-m", "bench.gift_storm", "client", *args],
        env=env,
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _once(label, port, viewer_path, sender_paths, trigger, n, clients, rate, seconds, spec, env):
    share = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]
    viewers = [_spawn_client(["viewers", str(port), viewer_path, str(k)], env) for k in share]
    sender = None
    try:
        for v in viewers:
            _read_line(v, "ready ", 300)
        sender = _spawn_client(
            ["send", str(port), str(rate), str(seconds), json.dumps(sender_paths),
             json.dumps(spec)], env)  # fmt: skip
        _read_line(sender, "ready ", 120)
        time.sleep(2)
        load = os.getloadavg()[0]
        sender.stdin.write("go\n")
        sender.stdin.flush()
        trigger()
        sends = json.loads(_read_line(sender, "result ", seconds + 90))
        for v in viewers:
            v.stdin.write("done\n")
            v.stdin.flush()
        seen = [json.loads(_read_line(v, "result ", 90)) for v in viewers]
    finally:
        for p in [*viewers, *([sender] if sender else [])]:
            _stop(p)
    return {"label": label, "rate": rate, "load": load, "sends": sends, "viewers": seen}


def run(**_ignored):
    n = int(_env("BENCH_GIFT_VIEWERS", "3000"))
    senders = int(_env("BENCH_GIFT_SENDERS", "200"))
    rates = [float(r) for r in _env("BENCH_GIFT_RATES", "100,300,500").split(",")]
    seconds = float(_env("BENCH_GIFT_SECONDS", "10"))
    rounds = int(_env("BENCH_GIFT_ROUNDS", "1"))
    clients = int(_env("BENCH_GIFT_CLIENTS", "2"))
    event_rate = float(_env("BENCH_GIFT_EVENT_RATE", "20"))
    redis_url = _env("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    raise_nofile(n * 2 + senders * 2 + 2000)

    import redis

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return [], [f"gift_storm: skipped, it needs Redis at {redis_url} (BENCH_REDIS_URL): {exc}"]
    seed = _seed(senders)
    session_id = seed["session"]
    r = redis.Redis.from_url(redis_url)
    from django.conf import settings

    # The room's keys and gifts' (wallet mirrors, tokens, the sends stream) of earlier runs.
    for pattern in (f"{{live:{session_id}}}*", f"{settings.GIFTS_KEY_PREFIX}*"):
        for key in r.scan_iter(pattern):
            r.delete(key)

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "REDIS_URL": redis_url,
        "PYTHONUNBUFFERED": "1",
        # The bench's senders give all day: their own cap is not what is measured.
        "GIFTS_DAILY_COIN_CAP": "1000000000",
    }
    room_port, plain_port = _free_port(), _free_port()
    log = _env("BENCH_ROOM_LOG", "")
    logs = [
        open(log, "w+") if log else tempfile.NamedTemporaryFile("w+", suffix=".log"),  # noqa: SIM115
        tempfile.NamedTemporaryFile("w+", suffix=".log"),  # noqa: SIM115
        tempfile.NamedTemporaryFile("w+", suffix=".log"),  # noqa: SIM115
    ]
    room = _spawn(_room_command("uvicorn", room_port), env, logs[0])
    # The gift writer, as `make run` and production run it: a sender's ack waits for its commit.
    gift_writer = _spawn([sys.executable, "manage.py", "gift_writer"], env, logs[2])
    plain = _spawn(
        [sys.executable, "-m", "bench.gift_storm", "plain", str(plain_port)], env, logs[1]
    )
    runs = []
    failed = True
    try:
        _wait_port(room_port, room)
        _wait_port(plain_port, plain)
        stamp = time.strftime("%H%M%S")
        for rate in rates:
            for rnd in range(rounds):
                order = [("plain websockets", plain_port), ("live room", room_port)]
                if rnd % 2:
                    order.reverse()
                for label, port in order:
                    ctx = (seed, env, room_port, plain_port, session_id, n, clients, seconds)
                    runs.append(_one_run(label, port, rate, rnd, stamp, event_rate, ctx))
                    time.sleep(2)
        failed = False
    finally:
        if failed:
            for name, f in zip(("room", "plain", "gift writer"), logs, strict=True):
                f.flush()
                f.seek(0)
                tail = f.read()[-3000:]
                if tail.strip():
                    print(f"--- {name} server log ---\n{tail}", file=sys.stderr)
        _stop(room)
        _stop(plain)
        _stop(gift_writer)
        for f in logs:
            f.close()
    return _report(runs, n, senders, seconds, clients, event_rate)


def _one_run(label, port, rate, rnd, stamp, event_rate, ctx) -> dict:
    seed, env, room_port, plain_port, session_id, n, clients, seconds = ctx
    senders = len(seed["tokens"])
    room_path = f"/ws/live/{session_id}/"
    is_room = port == room_port
    prefix = f"bench{stamp}r{int(rate)}n{rnd}{'R' if is_room else 'P'}"
    spec = {k: seed[k] for k in ("rose", "big", "big_coins")} | {"prefix": prefix}
    paths = [f"{room_path}#token={t}" for t in seed["tokens"]] if is_room else ["/send"] * senders
    count = int(event_rate * (seconds + 2))
    publishers: list = []

    def trigger():
        if is_room:
            publishers.append(_spawn(
                [sys.executable, "-m", "bench.room", "publish", str(session_id),
                 str(event_rate), str(count)], env, None))  # fmt: skip
        else:
            from websockets.sync.client import connect

            # No keepalive: an overwhelmed yardstick answers pings late, which is the point.
            control = connect(f"ws://{HOST}:{plain_port}/control", ping_interval=None)
            control.send(json.dumps({"rate": event_rate, "count": count}))
            publishers.append(control)

    before = _balances(seed["users"]) if is_room else 0
    result = _once(label, port, room_path if is_room else "/", paths, trigger, n, clients,
                   rate, seconds, spec, env)  # fmt: skip
    for p in publishers:
        if hasattr(p, "wait"):
            p.wait(timeout=60)
        else:
            with contextlib.suppress(Exception):
                p.close()
    result["events_expected"] = count
    if is_room:
        time.sleep(1)
        result["money"] = _money_check(seed, prefix, before)
    return result


def _report(runs, n, senders, seconds, clients, event_rate):
    from bench.load import LoadResult

    results, notes = [], []
    for r in runs:
        s, v = r["sends"], r["viewers"]
        viewers = sum(x["viewers"] for x in v)
        got_events = sum(x["events"] for x in v)
        gaps = sum(x["gaps"] for x in v)
        closed = sum(x["closed"] for x in v)
        lost_events = max(0, r["events_expected"] * viewers - got_events)
        # Over the time gifts were arriving (acks may run past the offered seconds).
        gift_rate = sum(x["gifts"] / x["gift_seconds"] for x in v) / max(1, viewers)
        name = f"gift storm {r['label']} {r['rate']:g}/s"
        acks = LoadResult(
            name=f"{name} acks", url="", client="raw-ws", concurrency=s["senders"],
            seconds=seconds, requests=s["acked"],
            errors=sum(s["refused"].values()) + s["unanswered"],
            latencies=[(q, s["acked"] / 1000) for q in s["quantiles"]],
        )  # fmt: skip
        events = LoadResult(
            name=f"{name} events", url="", client="raw-ws", concurrency=viewers,
            seconds=seconds, requests=got_events, errors=lost_events + gaps + closed,
            latencies=[(q, x["events"] / 1000) for x in v for q in x["quantiles"]],
        )  # fmt: skip
        results += [acks, events]
        money = ""
        if "money" in r:
            m = r["money"]
            # Each row debited once, and every acknowledged send has its row (a send still
            # unanswered when the run stopped may have committed since).
            ok = m["debited"] == m["row_coins"] and m["row_coins"] >= s["coins"]
            ok = ok and s["acked"] <= m["rows"] <= s["acked"] + s["unanswered"]
            money = (
                f"; money: {m['rows']} send rows, {m['row_coins']:,} coins in rows, "
                f"{m['debited']:,} debited from wallets, acked coins {s['coins']:,} "
                f"({'OK' if ok else 'MISMATCH'})"
            )
        notes.append(
            f"{name}: offered {s['sent']}, committed {s['acked']} ({s['acked'] / seconds:,.0f}/s), "
            f"refused {s['refused'] or 0}, unanswered {s['unanswered']}; ack p50/p99 "
            f"{acks.p50_ms:.0f}/{acks.p99_ms:.0f} ms; gift events per viewer per second "
            f"{gift_rate:.1f}; other events p50/p99 {events.p50_ms:.0f}/"
            f"{events.p99_ms:.0f} ms, lost {lost_events}, gaps {gaps}, closed {closed}{money}; "
            f"load average {r['load']:.2f}"
        )
    room = [r for r in runs if r["label"] == "live room"]
    breaks = next(
        (
            r["rate"]
            for r in room
            if r["sends"]["acked"] < r["sends"]["sent"] or _p99(r["sends"]["quantiles"]) >= 250
        ),
        None,
    )
    notes.append(
        "gift storm: the room "
        + (f"first missed the target at {breaks:g}/s" if breaks else "met the target at every rate")
        + " (target: every send committed, ack p99 < 250 ms)"
    )
    notes.insert(
        0,
        f"gift storm: {n} viewers ({clients} client processes), {senders} senders, 1 in "
        f"{BIG_EVERY} a big gift, {event_rate:g} server events/s, {seconds:g} s per rate; "
        "'req/s' = committed sends/s (acks rows) or events delivered/s, 'errors' = refused or "
        "unanswered sends, or lost/gapped events and closed sockets",
    )
    return results, notes


def _p99(quantiles) -> float:
    return quantiles[990] if quantiles else 0.0


def _median(values) -> float:
    return statistics.median(values) if values else 0.0


if __name__ == "__main__":
    role, rest = sys.argv[1], sys.argv[2:]
    {"client": client_main, "plain": plain_main}[role](rest)
