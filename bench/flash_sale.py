"""A flash sale: 64 buyers at once on one hot variant, each path beside the bare stock UPDATE.

Paths, each in its own rounds on the same 64 buyers (processes x threads, one PostgreSQL
connection each), interleaved in a rotating order so that whatever else the machine does
weighs on all alike:

- raw: the bare conditional UPDATE (`quantity = quantity - 1 WHERE quantity >= 1`) through
  psycopg, each in its own transaction: the yardstick.
- checkout: `orders.checkout.start_checkout`, the plain path (what ordinary products take):
  one transaction that reserves with the UPDATE and writes the checkout, order, item, event.
- fast: `orders.flash.services.reserve`, the flash-sale path: one Lua script in Redis; the
  batch writers (`orders.flash.writer`, BENCH_FLASH_WRITERS processes of their own here, 2 by
  default, as `manage.py flash_writer --processes 2` runs them) write the checkouts meanwhile.
  After each round the bench waits for the writers to catch up and prints how long that took
  and how many orders they wrote during the round and after it.
- live: `live.selling.services.live_buy_now` during a live flash deal: the room's buy-now
  (session, lineup and deal checks in PostgreSQL, then the same Lua script with the deal).

Then the "last units" rounds: 10 left, 64 buyers at the same instant, exactly 10 must win and
become exactly 10 orders (plain and fast). Everything is checked afterwards: sold + remaining
= stock, no negative stock, one order per successful call, deal units = orders at its price.

No HTTP here: the shopping_tab bench measures serving; this one measures the hot row.
"""

import contextlib
import multiprocessing as mp
import os
import queue
import threading
import time
from dataclasses import dataclass, field

from django.db import connection, connections, transaction

from bench.load import BenchError, LoadResult, merge

BUYERS = 64
PROCESSES = int(os.environ.get("BENCH_FLASH_PROCESSES", "16"))  # 64 buyers over these
# Writer processes sharing the stream (as `manage.py flash_writer --processes N` starts them).
WRITERS = int(os.environ.get("BENCH_FLASH_WRITERS", "2"))  # as Procfile.dev starts
STOCK = int(os.environ.get("BENCH_FLASH_STOCK", "20000"))
FAST_STOCK = 50_000_000  # the fast paths' rows: they never run out in a run either
RAW_STOCK = 2_000_000_000  # the bare UPDATE's own row: it never runs out in a run
LAST_UNITS = 10
DEAL_PRICE = 1900
WRITER_CATCH_UP = 60.0  # seconds the writer may take after a round; more is an error
SELLER = "benchflash"
BUYER_PREFIX = "benchflashbuyer"
RAW_SQL = "UPDATE shops_variant SET quantity = quantity - 1 WHERE id = %s AND quantity >= 1"
ROUND_TIMEOUT = 60.0


BENCH_KEY_PREFIX = "benchflash:"
MODES = ("raw", "fast", "live", "checkout")
NAMES = {
    "raw": "raw conditional UPDATE",
    "fast": "flash path (Redis + writer)",
    "live": "live buy-now (deal, flash)",
    "checkout": "plain checkout",
}


@dataclass(frozen=True)
class Phase:
    mode: str  # one of MODES; with `once`, one call per buyer
    variant_id: int
    start_at: float  # time.monotonic() (CLOCK_MONOTONIC: the same clock in every process)
    end_at: float
    once: bool = False


@dataclass
class Tally:
    ok: int = 0
    sold_out: int = 0
    errors: int = 0
    first_error: str = ""
    latencies_ms: list[float] = field(default_factory=list)
    finished_at: float = 0.0

    def add(self, other: "Tally") -> None:
        self.ok += other.ok
        self.sold_out += other.sold_out
        self.errors += other.errors
        self.first_error = self.first_error or other.first_error
        self.latencies_ms += other.latencies_ms
        self.finished_at = max(self.finished_at, other.finished_at)


@dataclass(frozen=True)
class Seeded:
    variant_id: int  # the plain checkout's variant, STOCK units
    raw_variant_id: int  # the bare UPDATE's row
    last_variant_id: int  # LAST_UNITS units, plain path
    fast_variant_id: int  # flash sale, FAST_STOCK units
    fast_last_variant_id: int  # flash sale, LAST_UNITS units
    live_variant_id: int  # the live deal's product, FAST_STOCK units
    session_id: int
    deal_id: int
    buyers: list[tuple[int, int]]  # (user id, address id)

    def variant_for(self, mode: str) -> int:
        return {
            "raw": self.raw_variant_id,
            "fast": self.fast_variant_id,
            "live": self.live_variant_id,
            "checkout": self.variant_id,
        }[mode]


# --- seed ------------------------------------------------------------------------------------


def _clear_redis() -> None:
    from orders.flash import services as flash
    from orders.flash import store

    if not flash.enabled():
        return
    r = store.client()
    keys = list(r.scan_iter(f"{BENCH_KEY_PREFIX}*", count=1000))
    if keys:
        r.delete(*keys)


def _delete_previous() -> None:
    from live.models import LiveSession
    from orders.models import Checkout, FlashReservation, Order, OrderEvent, OrderItem
    from shopfeed.accounts.models import User
    from shops.models import Shop

    with connection.cursor() as cursor:  # plans by id lists below need current statistics
        cursor.execute("ANALYZE")
    shop_ids = list(Shop.objects.filter(owner__handle=SELLER).values_list("pk", flat=True))
    buyer_ids = list(
        User.objects.filter(handle__startswith=BUYER_PREFIX).values_list("pk", flat=True)
    )
    order_ids = list(Order.objects.filter(shop_id__in=shop_ids).values_list("pk", flat=True))
    OrderEvent.objects.filter(order_id__in=order_ids).delete()
    OrderItem.objects.filter(order_id__in=order_ids).delete()
    Order.objects.filter(pk__in=order_ids).delete()
    FlashReservation.objects.filter(buyer_id__in=buyer_ids).delete()
    LiveSession.objects.filter(shop_id__in=shop_ids).delete()  # its deals and claims too
    Checkout.objects.filter(buyer_id__in=buyer_ids).delete()
    Shop.objects.filter(pk__in=shop_ids).delete()
    User.objects.filter(pk__in=buyer_ids).delete()
    User.objects.filter(handle=SELLER).delete()


def seed() -> Seeded:
    """Replace this bench's rows (seller benchflash, its buyers, their orders) and only those."""
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from live.models import LineupItem, LiveSession
    from live.selling import services as selling
    from orders.models import Address
    from shopfeed.accounts.models import User
    from shops.models import Product, Variant
    from shops.services import open_shop

    _clear_redis()
    with transaction.atomic():
        _delete_previous()
        owner = User.objects.create_user(username=SELLER, handle=SELLER, is_creator=True)
        shop = open_shop(owner=owner, name="Flash sale shop", slug="benchflash-shop")

        def product(handle: str, title: str) -> Product:
            return Product.objects.create(
                shop=shop, handle=handle, title=title, status=Product.Status.ACTIVE
            )

        hoodie, live_product = product("flash-hoodie", "Flash hoodie"), product("live-cap", "Cap")
        rows = (
            # (product, label, units, flash sale)
            (hoodie, "sale", STOCK, False),
            (hoodie, "raw", RAW_STOCK, False),
            (hoodie, "last", LAST_UNITS, False),
            (hoodie, "fast", FAST_STOCK, True),
            (hoodie, "fast-last", LAST_UNITS, True),
            (live_product, "live", FAST_STOCK, True),
        )
        variants = [
            Variant.objects.create(
                product=p, shop=shop, currency=shop.currency, sku=f"FLASH-{label}",
                option1=label, price_amount=2900, quantity=units, position=n,
                flash_sale=flash_sale, flash_limit_per_buyer=32767,
            )
            for n, (p, label, units, flash_sale) in enumerate(rows)
        ]  # fmt: skip
        now = timezone.now()
        session = LiveSession.objects.create(
            host=owner, shop=shop, title="Flash drop", scheduled_at=now,
            status=LiveSession.Status.LIVE, started_at=now,
        )  # fmt: skip
        LineupItem.objects.create(session=session, product=live_product, position=0)
        unusable = make_password(None)
        buyers = User.objects.bulk_create(
            User(username=f"{BUYER_PREFIX}{n}", handle=f"{BUYER_PREFIX}{n}", password=unusable)
            for n in range(BUYERS)
        )
        addresses = Address.objects.bulk_create(
            Address(
                user=b, full_name=f"Buyer {n}", line1=f"{n} Flash Street", city="Springfield",
                region="NY", postal_code="12345", country="US", is_default=True,
            )
            for n, b in enumerate(buyers)
        )  # fmt: skip
    deal = selling.start_deal(
        session=session, product=live_product, price_amount=DEAL_PRICE, quantity=FAST_STOCK,
        duration_seconds=selling.DEAL_MAX_SECONDS, by=owner,
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # autovacuum is off here: plans need statistics
    return Seeded(
        variant_id=variants[0].pk,
        raw_variant_id=variants[1].pk,
        last_variant_id=variants[2].pk,
        fast_variant_id=variants[3].pk,
        fast_last_variant_id=variants[4].pk,
        live_variant_id=variants[5].pk,
        session_id=session.pk,
        deal_id=deal.pk,
        buyers=[(b.pk, a.pk) for b, a in zip(buyers, addresses, strict=True)],
    )


# --- one buyer -------------------------------------------------------------------------------


class _Buyer(threading.Thread):
    """One buyer: its own database connection, kept for the whole run."""

    def __init__(self, user_id: int, address_id: int):
        super().__init__(daemon=True)
        self.user_id, self.address_id = user_id, address_id
        self.user = self.address = None
        self.live: dict[int, tuple] = {}  # variant id -> (session, variant)
        self.inbox: queue.Queue[Phase | None] = queue.Queue()
        self.outbox: queue.Queue[Tally] = queue.Queue()

    def run(self) -> None:
        try:
            while (phase := self.inbox.get()) is not None:
                try:
                    self.outbox.put(self._drive(phase))
                except Exception as exc:  # noqa: BLE001 - reported to the parent as an error
                    self.outbox.put(Tally(errors=1, first_error=repr(exc)))
        finally:
            connection.close()

    def _call(self, phase: Phase, cursor, lines) -> None:
        from live.selling.services import live_buy_now
        from orders.checkout.services import start_checkout
        from orders.errors import SoldOut
        from orders.flash import services as flash

        if phase.mode == "raw":
            cursor.execute(RAW_SQL, [phase.variant_id])  # autocommit: one transaction
            if cursor.rowcount != 1:
                raise SoldOut("no stock")
        elif phase.mode == "fast":
            flash.reserve(buyer=self.user, line=lines[0], address=self.address)
        elif phase.mode == "live":
            session, variant = self.live[phase.variant_id]
            live_buy_now(
                session=session, buyer=self.user, variant=variant, quantity=1,
                address=self.address,
            )  # fmt: skip
        else:
            start_checkout(buyer=self.user, lines=lines, address=self.address)

    def _prepare(self, phase: Phase) -> None:
        """Load what the calls take (and connect) before the clock starts."""
        from live.models import FlashDeal
        from orders.models import Address
        from shopfeed.accounts.models import User
        from shops.models import Variant

        if self.user is None:
            self.user = User.objects.get(pk=self.user_id)
            self.address = Address.objects.get(pk=self.address_id)
        if phase.mode == "live" and phase.variant_id not in self.live:
            variant = Variant.objects.select_related("product", "shop").get(pk=phase.variant_id)
            deal = FlashDeal.objects.select_related("session").get(product=variant.product)
            self.live[phase.variant_id] = (deal.session, variant)

    def _drive(self, phase: Phase) -> Tally:
        from orders.checkout.services import LineRequest
        from orders.errors import SoldOut

        self._prepare(phase)
        cursor = connection.connection.cursor()
        lines = [LineRequest(phase.variant_id, 1)]
        tally = Tally()
        while (now := time.monotonic()) < phase.start_at:
            time.sleep(min(phase.start_at - now, 0.05))
        while True:
            t0 = time.monotonic()
            try:
                self._call(phase, cursor, lines)
            except SoldOut:
                tally.sold_out += 1
            except Exception as exc:  # noqa: BLE001 - counted and shown, the run goes on
                tally.errors += 1
                tally.first_error = tally.first_error or repr(exc)
            else:
                tally.ok += 1
                tally.latencies_ms.append((time.monotonic() - t0) * 1000)
            tally.finished_at = time.monotonic()
            if phase.once or tally.finished_at >= phase.end_at:
                return tally


def _process_main(pipe, slots: list[tuple[int, int]]) -> None:
    """A worker process: a few buyer threads, driven phase by phase from the parent."""
    buyers = [_Buyer(*slot) for slot in slots]
    for b in buyers:
        b.start()
    while (phase := pipe.recv()) is not None:
        for b in buyers:
            b.inbox.put(phase)
        total = Tally()
        for b in buyers:
            total.add(b.outbox.get())
        pipe.send(total)
    for b in buyers:
        b.inbox.put(None)
    for b in buyers:
        b.join(timeout=10)


def _writer_main(stop) -> None:
    """The flash writer, as `manage.py flash_writer` runs it, in a process of its own."""
    from orders.flash import writer

    try:
        writer.run(consumer=f"bench-{os.getpid()}", stop=stop, block_ms=100)
    finally:
        connection.close()


class _Crowd:
    """BUYERS buyers over PROCESSES forked processes (threads inside each), and the writer."""

    def __init__(self, buyers: list[tuple[int, int]], processes: int, *, writer: bool):
        if not 1 <= processes <= len(buyers):
            raise BenchError(f"BENCH_FLASH_PROCESSES must be 1..{len(buyers)}")
        connections.close_all()  # never share a connection across fork
        ctx = mp.get_context("fork")
        self.procs, self.pipes = [], []
        for n in range(processes):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_process_main, args=(child, buyers[n::processes]))
            proc.start()
            self.procs.append(proc)
            self.pipes.append(parent)
        self.stop_writer = ctx.Event()
        self.writers = [
            ctx.Process(target=_writer_main, args=(self.stop_writer,))
            for _ in range(WRITERS if writer else 0)
        ]
        for proc in self.writers:
            proc.start()

    def run(self, mode: str, variant_id: int, seconds: float, *, once: bool = False) -> Tally:
        start_at = time.monotonic() + 0.5  # every buyer is connected and waiting by then
        self.wall_start = time.time() + 0.5
        phase = Phase(mode, variant_id, start_at, start_at + seconds, once)
        for pipe in self.pipes:
            pipe.send(phase)
        total = Tally()
        for proc, pipe in zip(self.procs, self.pipes, strict=True):
            if not pipe.poll(seconds + ROUND_TIMEOUT):
                raise BenchError(f"a buyer process did not answer (alive: {proc.is_alive()})")
            total.add(pipe.recv())
        total.finished_at -= start_at
        self.wall_end = self.wall_start + total.finished_at
        return total

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(None)
        self.stop_writer.set()
        for proc in [*self.procs, *self.writers]:
            proc.join(timeout=15)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)


@dataclass(frozen=True)
class CatchUp:
    seconds: float  # from the round's end until every reservation was written
    during: int  # reservations the writers wrote while the buyers were reserving
    after: int  # and after the round, until none was left


def _writer_catch_up(crowd: "_Crowd | None" = None) -> CatchUp:
    """How long the writers took to write every reservation after a round ended, and how many
    they wrote during it and after it (by the records' written_at)."""
    from datetime import UTC, datetime

    from orders.flash import store
    from orders.models import FlashReservation

    t0 = time.monotonic()
    while store.backlog():
        if time.monotonic() - t0 > WRITER_CATCH_UP:
            raise BenchError(f"the flash writer did not catch up within {WRITER_CATCH_UP} s")
        time.sleep(0.005)
    seconds = time.monotonic() - t0
    if crowd is None:
        return CatchUp(seconds, 0, 0)
    start, end = (datetime.fromtimestamp(t, tz=UTC) for t in (crowd.wall_start, crowd.wall_end))
    rows = FlashReservation.objects.filter(written_at__gte=start)
    during = rows.filter(written_at__lt=end).count()
    return CatchUp(seconds, during, rows.count() - during)


# --- checks ----------------------------------------------------------------------------------


def _check_sale(seeded: Seeded, ok: dict[str, int]) -> list[str]:
    """After the load: stock adds up, nothing negative, one order per unit sold, per path."""
    from django.db.models import Sum

    from live.models import FlashDeal
    from orders.flash import store
    from orders.models import FlashReservation, Order, OrderItem
    from shops.models import Variant

    stock = dict(Variant.objects.values_list("pk", "quantity"))
    problems, lines = [], []
    for mode, start in (("checkout", STOCK), ("fast", FAST_STOCK), ("live", FAST_STOCK)):
        if mode not in ok:
            continue
        vid = seeded.variant_for(mode)
        remaining = stock[vid]
        sold = OrderItem.objects.filter(variant_id=vid).aggregate(n=Sum("quantity"))["n"] or 0
        orders = Order.objects.filter(items__variant_id=vid).distinct().count()
        if remaining < 0:
            problems.append(f"{mode}: negative stock {remaining}")
        if sold + remaining != start:
            problems.append(f"{mode}: sold {sold} + remaining {remaining} != stock {start}")
        if not orders == sold == ok[mode]:
            problems.append(
                f"{mode}: orders {orders}, units sold {sold}, successful calls {ok[mode]}"
            )
        if mode != "checkout":
            rejected = FlashReservation.objects.filter(variant_id=vid, status="rejected").count()
            redis_left = int(store.client().get(store.k("stock", vid)) or -1)
            if rejected or redis_left != remaining:
                problems.append(f"{mode}: {rejected} refused by the writer, Redis says "
                                f"{redis_left} left, PostgreSQL {remaining}")  # fmt: skip
        lines.append(f"{mode}: sold {sold} + remaining {remaining} == stock {start}, "
                     f"{orders} orders, 1 unit each")  # fmt: skip
    if "live" in ok:
        deal = FlashDeal.objects.get(pk=seeded.deal_id)
        at_deal = OrderItem.objects.filter(variant_id=seeded.live_variant_id,
                                           unit_price_amount=DEAL_PRICE).count()  # fmt: skip
        if not deal.sold == at_deal == ok["live"]:
            problems.append(f"live: deal sold {deal.sold}, orders at the deal price {at_deal}")
    raw_taken = RAW_STOCK - stock[seeded.raw_variant_id]
    if raw_taken != ok["raw"]:
        problems.append(f"raw row: {raw_taken} taken, {ok['raw']} updates")
    if problems:
        raise BenchError("flash sale does not add up: " + "; ".join(problems))
    return [*lines, f"raw row down by exactly {ok['raw']}"]


def _last_units(crowd: _Crowd, mode: str, variant_id: int) -> str:
    from orders.models import Order
    from shops.models import Variant

    tally = crowd.run(mode, variant_id, 0, once=True)
    if mode == "fast":
        _writer_catch_up()
    left = Variant.objects.get(pk=variant_id).quantity
    orders = Order.objects.filter(items__variant_id=variant_id).distinct().count()
    got = (tally.ok, tally.sold_out, tally.errors, orders, left)
    want = (LAST_UNITS, BUYERS - LAST_UNITS, 0, LAST_UNITS, 0)
    if got != want:
        raise BenchError(
            f"last units ({mode}): (won, sold out, errors, orders, left) = {got}, expected {want}"
            + (f"; first error: {tally.first_error}" if tally.first_error else "")
        )
    return (
        f"last units ({NAMES[mode]}): {LAST_UNITS} left, {BUYERS} buyers at once -> "
        f"{LAST_UNITS} orders, {BUYERS - LAST_UNITS} told sold out, stock 0 (all answered in "
        f"{tally.finished_at * 1000:.0f} ms)"
    )


# --- the bench -------------------------------------------------------------------------------


def _result(name: str, client: str, tally: Tally, seconds: float) -> LoadResult:
    notes = [f"{tally.sold_out} sold-out answers"] if tally.sold_out else []
    if tally.errors:
        notes.append(f"first error: {tally.first_error}")
    return LoadResult(
        name=name,
        url="",
        client=client,
        concurrency=BUYERS,
        seconds=max(seconds, tally.finished_at),
        requests=tally.ok,
        errors=tally.errors,
        latencies=[(ms, 1.0) for ms in tally.latencies_ms],
        notes=notes,
    )


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def run(*, client: str, concurrency: int, duration: float, warmup: float, rounds: int, **_):
    """Every path in rounds of rotating order (raw-fast-live-checkout, fast-live-checkout-raw,
    ...) after a warm-up of each. `client` and `concurrency` do not apply: the buyers are
    in-process, 64 of them."""
    from django.conf import settings

    from orders.flash import services as flash

    settings.FLASH_KEY_PREFIX = BENCH_KEY_PREFIX  # inherited by the forked buyers and writer
    settings.FLASH_WRITE_INLINE = False
    modes = list(MODES) if flash.enabled() else ["raw", "checkout"]
    seeded = seed()
    per_round = duration / rounds
    label = f"{PROCESSES} procs x {BUYERS // PROCESSES} thr"
    tallies: dict[str, list[Tally]] = {m: [] for m in modes}
    warm: dict[str, Tally] = {}
    catch_up: dict[str, list[CatchUp]] = {"fast": [], "live": []}
    reserved: dict[str, list[int]] = {"fast": [], "live": []}
    loads: list[float] = []
    crowd = _Crowd(seeded.buyers, PROCESSES, writer="fast" in modes)
    try:
        for mode in modes:
            warm[mode] = crowd.run(mode, seeded.variant_for(mode), warmup)
            if mode in catch_up:
                _writer_catch_up()
        for n in range(rounds):
            for mode in modes[n % len(modes) :] + modes[: n % len(modes)]:
                loads.append(os.getloadavg()[0])
                tallies[mode].append(crowd.run(mode, seeded.variant_for(mode), per_round))
                if mode in catch_up:
                    catch_up[mode].append(_writer_catch_up(crowd))
                    reserved[mode].append(tallies[mode][-1].ok)
        ok = {m: sum(t.ok for t in tallies[m]) + warm[m].ok for m in modes}
        checked = _check_sale(seeded, ok)
        last = [_last_units(crowd, "checkout", seeded.last_variant_id)]
        if "fast" in modes:
            last.append(_last_units(crowd, "fast", seeded.fast_last_variant_id))
    finally:
        crowd.close()
    runs = {m: [_result(NAMES[m], label, t, per_round) for t in ts] for m, ts in tallies.items()}
    merged = {m: merge(rs) for m, rs in runs.items()}
    for mode, result in merged.items():
        sold_out = sum(t.sold_out for t in tallies[mode])
        result.notes = [n for n in result.notes if "sold-out" not in n]
        result.notes += [f"{sold_out} sold-out answers"] if sold_out else []
    raw = merged["raw"]
    notes = [
        f"flash sale: {BUYERS} buyers ({label}) on one variant per path, in-process on "
        f"PostgreSQL{' and Redis' if 'fast' in modes else ' (no Redis: flash paths skipped)'}; "
        f"{rounds} rounds of {per_round:g} s per path, order rotating; load average during "
        f"the rounds: median {_median(loads):.2f} (range {min(loads):.2f}-{max(loads):.2f})",
    ]
    for mode in modes:
        if mode == "raw":
            continue
        ratios = [r.rps / b.rps for r, b in zip(runs[mode], runs["raw"], strict=True)]
        res = merged[mode]
        notes.append(
            f"{NAMES[mode]} / raw UPDATE: median of rounds {_median(ratios):.3f}x "
            f"(rounds {min(ratios):.3f}-{max(ratios):.3f}; all rounds {res.rps / raw.rps:.3f}x); "
            f"p99 {res.p99_ms:.1f} ms vs {raw.p99_ms:.1f} ms"
        )
        if mode in catch_up:
            ups = [c.seconds for c in catch_up[mode]]
            # Written while buyers were reserving, and after (the backlog alone).
            during = [c.during / per_round for c in catch_up[mode]]
            after = [c.after / c.seconds for c in catch_up[mode] if c.after and c.seconds > 0.05]
            notes.append(
                f"{NAMES[mode]}: {WRITERS} writer process(es) finished writing "
                f"{_median(ups) * 1000:.0f} ms (median; max {max(ups) * 1000:.0f} ms) after "
                f"each {per_round:g} s round; reservations arrived at "
                f"{_median([n / per_round for n in reserved[mode]]):,.0f}/s, written at "
                f"{_median(during):,.0f}/s during the round"
                + (f" and {_median(after):,.0f}/s draining the backlog after it" if after else "")
            )
    return list(merged.values()), [*notes, *checked, *last]
