"""`python -m bench [NAME ...]`: run the benchmarks (all by default) and print a summary.

Options can also come from the environment: BENCH_CLIENT, BENCH_CONCURRENCY, BENCH_DURATION,
BENCH_WARMUP, BENCH_ROUNDS, BENCH_PRODUCTS, BENCH_DATABASE_URL. Exits 1 when any request failed.
"""

import argparse
import importlib
import os
import platform
import sys
import time

BENCHMARKS = (
    "shopping_tab",
    "flash_sale",
    "fanout",
    "join_storm",
    "room_chat",
    "room_flood",
    "room_headroom",
    "room_memory",
    "gift_sends",
    "gift_storm",
    "feed",
    "pages",
)
# Run only when named (longer than the default run should be).
ON_REQUEST = ("sizing",)


def _parse(argv: list[str]) -> argparse.Namespace:
    from bench.load import available_clients

    env = os.environ.get
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)}; on request: "
        f"{', '.join(ON_REQUEST)})",
    )
    p.add_argument(
        "--client",
        choices=["auto", "wrk", "aiohttp"],
        default=env("BENCH_CLIENT", "auto"),
        help="load client; auto = wrk when installed, else aiohttp",
    )
    p.add_argument("--concurrency", type=int, default=int(env("BENCH_CONCURRENCY", "32")))
    p.add_argument(
        "--duration",
        type=float,
        default=float(env("BENCH_DURATION", "10")),
        help="seconds of measured load per endpoint",
    )
    p.add_argument(
        "--warmup",
        type=float,
        default=float(env("BENCH_WARMUP", "2")),
        help="seconds of unmeasured load per endpoint first",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=int(env("BENCH_ROUNDS", "5")),
        help="the measured seconds are split into this many alternating rounds",
    )
    p.add_argument(
        "--products",
        type=int,
        default=int(env("BENCH_PRODUCTS", "200")),
        help="active products of the bench creator",
    )
    args = p.parse_args(argv)
    known = (*BENCHMARKS, *ON_REQUEST)
    unknown = set(args.names) - set(known)
    if unknown:
        p.error(f"unknown benchmark {', '.join(sorted(unknown))}; known: {', '.join(known)}")
    if args.rounds < 1 or args.duration / args.rounds < 1:
        p.error("each round needs at least 1 second: lower --rounds or raise --duration")
    if args.client == "auto":
        args.client = available_clients()[0]
    return args


def _default_redis() -> None:
    """Production runs on Redis (cache, flash reservations, room bus): so does the bench, on
    BENCH_REDIS_URL's database unless REDIS_URL says otherwise, when a Redis answers there."""
    if os.environ.get("REDIS_URL"):
        return
    url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return
    os.environ["REDIS_URL"] = url


def _setup_django() -> None:
    # Forced, not setdefault: the bench must never run against the development settings.
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    _default_redis()
    import django

    django.setup()
    from django.core.management import call_command

    from bench.server import ensure_database

    ensure_database()
    call_command("migrate", interactive=False, verbosity=0)


def _table(results) -> str:
    head = (
        "benchmark",
        "client",
        "conc",
        "seconds",
        "requests",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors",
    )
    rows = [head] + [
        (
            r.name,
            r.client,
            str(r.concurrency),
            f"{r.seconds:.1f}",
            str(r.requests),
            f"{r.rps:,.0f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
            str(r.errors),
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [
        "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    args = _parse(argv)
    names = args.names or list(BENCHMARKS)
    _setup_django()
    from django.conf import settings

    db = settings.DATABASES["default"]
    load_at_start = os.getloadavg()[0]
    print(f"bench: {', '.join(names)}")
    print(
        f"server: gunicorn, 2 sync workers, DEBUG off, PostgreSQL {db['NAME']}"
        f"@{db['HOST'] or 'local'}, CONN_MAX_AGE {db['CONN_MAX_AGE']}"
    )
    print(
        f"client: {args.client}, {args.concurrency} connections, {args.duration:g} s per "
        f"endpoint in {args.rounds} alternating rounds, after {args.warmup:g} s warm-up"
    )
    print(
        f"machine: {os.cpu_count()} CPUs shared by client, server and database; "
        f"load average {load_at_start:.2f} at start; Python {platform.python_version()}",
        flush=True,
    )
    results, notes = [], []
    started = time.monotonic()
    for name in names:
        got, extra = importlib.import_module(f"bench.{name}").run(
            client=args.client,
            concurrency=args.concurrency,
            duration=args.duration,
            warmup=args.warmup,
            rounds=args.rounds,
            products=args.products,
        )
        results += got
        notes += extra
    print()
    print(_table(results))
    print()
    for line in notes:
        print(line)
    for r in results:
        for note in r.notes:
            print(f"{r.name}: {note}")
    print(f"(total {time.monotonic() - started:.0f} s)")
    if load_at_start > 0.5 * (os.cpu_count() or 1):
        print("note: the machine was busy before the bench began; absolute figures will be low,")
        print(
            "      the ratio (both endpoints loaded in alternating rounds) is the steadier number."
        )
    # A yardstick that falls over (the plain websockets server under a chat load) is a
    # finding, not a failure of the bench; only our own paths' errors fail the run.
    yardstick = [r.name for r in results if r.errors and "plain websockets" in r.name]
    if yardstick:
        print(f"yardstick errors (expected where it cannot keep up): {', '.join(yardstick)}")
    failed = [r.name for r in results if r.errors and r.name not in yardstick]
    if failed:
        print(f"FAILED: errors under load in {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    from bench.load import BenchError

    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as exc:
        print(f"bench error: {exc}", file=sys.stderr)
        sys.exit(2)
