"""A flash sale: 64 buyers checking out one variant at once, beside the bare stock UPDATE.

The real path is `orders.checkout.start_checkout` (what the checkout page and buy-now call):
one transaction that reserves the unit with the conditional UPDATE and then writes the
checkout, the order, its item and its event, holding the variant's row lock until commit.
The raw limit is that UPDATE alone, each in its own transaction, through psycopg on the same
connections. Both run from the same 64 buyers (processes x threads, so the GIL is not the
limit) in alternating rounds, so that whatever else the machine does weighs on both alike.
Then a "last units" round: 10 left, 64 buyers at the same instant, exactly 10 must win.

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
STOCK = int(os.environ.get("BENCH_FLASH_STOCK", "20000"))
RAW_STOCK = 2_000_000_000  # the bare UPDATE's own row: it never runs out in a run
LAST_UNITS = 10
SELLER = "benchflash"
BUYER_PREFIX = "benchflashbuyer"
RAW_SQL = "UPDATE shops_variant SET quantity = quantity - 1 WHERE id = %s AND quantity >= 1"
ROUND_TIMEOUT = 60.0


@dataclass(frozen=True)
class Phase:
    mode: str  # "checkout": start_checkout in a loop; "raw": the bare UPDATE; "once": one call
    variant_id: int
    start_at: float  # time.monotonic() (CLOCK_MONOTONIC: the same clock in every process)
    end_at: float


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
    variant_id: int  # the flash-sale variant, STOCK units
    raw_variant_id: int  # the bare UPDATE's row
    last_variant_id: int  # LAST_UNITS units
    buyers: list[tuple[int, int]]  # (user id, address id)


# --- seed ------------------------------------------------------------------------------------


def seed() -> Seeded:
    """Replace this bench's rows (seller benchflash, its buyers, their orders) and only those."""
    from django.contrib.auth.hashers import make_password

    from orders.models import Address, Checkout, Order, OrderEvent, OrderItem
    from shopfeed.accounts.models import User
    from shops.models import Product, Shop, Variant
    from shops.services import open_shop

    with transaction.atomic():
        OrderEvent.objects.filter(order__shop__owner__handle=SELLER).delete()
        OrderItem.objects.filter(order__shop__owner__handle=SELLER).delete()
        Order.objects.filter(shop__owner__handle=SELLER).delete()
        Checkout.objects.filter(buyer__handle__startswith=BUYER_PREFIX).delete()
        Shop.objects.filter(owner__handle=SELLER).delete()
        User.objects.filter(handle__startswith=BUYER_PREFIX).delete()
        User.objects.filter(handle=SELLER).delete()

        owner = User.objects.create_user(username=SELLER, handle=SELLER, is_creator=True)
        shop = open_shop(owner=owner, name="Flash sale shop", slug="benchflash-shop")
        product = Product.objects.create(
            shop=shop, handle="flash-hoodie", title="Flash hoodie", status=Product.Status.ACTIVE
        )
        variants = [
            Variant.objects.create(
                product=product,
                shop=shop,
                currency=shop.currency,
                sku=f"FLASH-{label}",
                option1=label,
                price_amount=2900,
                quantity=quantity,
                position=n,
            )
            for n, (label, quantity) in enumerate(
                (("sale", STOCK), ("raw", RAW_STOCK), ("last", LAST_UNITS))
            )
        ]
        unusable = make_password(None)
        buyers = User.objects.bulk_create(
            User(username=f"{BUYER_PREFIX}{n}", handle=f"{BUYER_PREFIX}{n}", password=unusable)
            for n in range(BUYERS)
        )
        addresses = Address.objects.bulk_create(
            Address(
                user=b,
                full_name=f"Buyer {n}",
                line1=f"{n} Flash Street",
                city="Springfield",
                region="NY",
                postal_code="12345",
                country="US",
                is_default=True,
            )
            for n, b in enumerate(buyers)
        )
    return Seeded(
        variant_id=variants[0].pk,
        raw_variant_id=variants[1].pk,
        last_variant_id=variants[2].pk,
        buyers=[(b.pk, a.pk) for b, a in zip(buyers, addresses, strict=True)],
    )


# --- one buyer -------------------------------------------------------------------------------


class _Buyer(threading.Thread):
    """One buyer: its own database connection, kept for the whole run."""

    def __init__(self, user_id: int, address_id: int):
        super().__init__(daemon=True)
        self.user_id, self.address_id = user_id, address_id
        self.user = self.address = None
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

    def _drive(self, phase: Phase) -> Tally:
        from orders.checkout.services import LineRequest, start_checkout
        from orders.errors import SoldOut
        from orders.models import Address
        from shopfeed.accounts.models import User

        if self.user is None:  # also connects, before the clock starts
            self.user = User.objects.get(pk=self.user_id)
            self.address = Address.objects.get(pk=self.address_id)
        cursor = connection.connection.cursor()
        lines = [LineRequest(phase.variant_id, 1)]
        tally = Tally()
        while (now := time.monotonic()) < phase.start_at:
            time.sleep(min(phase.start_at - now, 0.05))
        while True:
            t0 = time.monotonic()
            try:
                if phase.mode == "raw":
                    cursor.execute(RAW_SQL, [phase.variant_id])  # autocommit: one transaction
                    if cursor.rowcount != 1:
                        raise SoldOut("no stock")
                else:
                    start_checkout(buyer=self.user, lines=lines, address=self.address)
            except SoldOut:
                tally.sold_out += 1
            except Exception as exc:  # noqa: BLE001 - counted and shown, the run goes on
                tally.errors += 1
                tally.first_error = tally.first_error or repr(exc)
            else:
                tally.ok += 1
                tally.latencies_ms.append((time.monotonic() - t0) * 1000)
            tally.finished_at = time.monotonic()
            if phase.mode == "once" or tally.finished_at >= phase.end_at:
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


class _Crowd:
    """BUYERS buyers over PROCESSES forked processes (threads inside each)."""

    def __init__(self, buyers: list[tuple[int, int]], processes: int):
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

    def run(self, mode: str, variant_id: int, seconds: float) -> Tally:
        start_at = time.monotonic() + 0.5  # every buyer is connected and waiting by then
        phase = Phase(mode, variant_id, start_at, start_at + seconds)
        for pipe in self.pipes:
            pipe.send(phase)
        total = Tally()
        for proc, pipe in zip(self.procs, self.pipes, strict=True):
            if not pipe.poll(seconds + ROUND_TIMEOUT):
                raise BenchError(f"a buyer process did not answer (alive: {proc.is_alive()})")
            total.add(pipe.recv())
        total.finished_at -= start_at
        return total

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(None)
        for proc in self.procs:
            proc.join(timeout=15)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)


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


def _check_sale(seeded: Seeded, *, sold_calls: int, raw_calls: int) -> str:
    """After the load: stock adds up, nothing negative, one order per unit sold."""
    from django.db.models import Sum

    from orders.models import Order, OrderItem
    from shops.models import Variant

    stock = dict(Variant.objects.filter(pk__in=[seeded.variant_id, seeded.raw_variant_id])
                 .values_list("pk", "quantity"))  # fmt: skip
    remaining, raw_remaining = stock[seeded.variant_id], stock[seeded.raw_variant_id]
    items = OrderItem.objects.filter(variant_id=seeded.variant_id)
    sold = items.aggregate(n=Sum("quantity"))["n"] or 0
    orders = Order.objects.filter(items__variant_id=seeded.variant_id).distinct().count()
    problems = []
    if remaining < 0:
        problems.append(f"negative stock {remaining}")
    if sold + remaining != STOCK:
        problems.append(f"sold {sold} + remaining {remaining} != stock {STOCK}")
    if not orders == sold == sold_calls:
        problems.append(f"orders {orders}, units sold {sold}, successful checkouts {sold_calls}")
    if RAW_STOCK - raw_remaining != raw_calls:
        problems.append(f"raw row: {RAW_STOCK - raw_remaining} taken, {raw_calls} updates")
    if problems:
        raise BenchError("flash sale does not add up: " + "; ".join(problems))
    return (
        f"flash sale checked: sold {sold} + remaining {remaining} == stock {STOCK}, "
        f"{orders} orders, 1 unit each; raw row down by exactly {raw_calls}"
    )


def _last_units(crowd: _Crowd, seeded: Seeded) -> str:
    from orders.models import Order
    from shops.models import Variant

    tally = crowd.run("once", seeded.last_variant_id, 0)
    left = Variant.objects.get(pk=seeded.last_variant_id).quantity
    orders = Order.objects.filter(items__variant_id=seeded.last_variant_id).distinct().count()
    got = (tally.ok, tally.sold_out, tally.errors, orders, left)
    want = (LAST_UNITS, BUYERS - LAST_UNITS, 0, LAST_UNITS, 0)
    if got != want:
        raise BenchError(
            f"last units: (won, sold out, errors, orders, left) = {got}, expected {want}"
            + (f"; first error: {tally.first_error}" if tally.first_error else "")
        )
    return (
        f"last units: {LAST_UNITS} left, {BUYERS} buyers at once -> {LAST_UNITS} orders, "
        f"{BUYERS - LAST_UNITS} told sold out, stock 0 (all answered in "
        f"{tally.finished_at * 1000:.0f} ms)"
    )


def run(*, client: str, concurrency: int, duration: float, warmup: float, rounds: int, **_):
    """Checkout and bare UPDATE in alternating rounds (real-raw, raw-real, ...) after a warm-up
    of each. `client` and `concurrency` do not apply: the buyers are in-process, 64 of them."""
    seeded = seed()
    per_round = duration / rounds
    label = f"{PROCESSES} procs x {BUYERS // PROCESSES} thr"
    names = {"checkout": "flash-sale checkout", "raw": "raw conditional UPDATE"}
    tallies: dict[str, list[Tally]] = {"checkout": [], "raw": []}
    warm: dict[str, Tally] = {}
    crowd = _Crowd(seeded.buyers, PROCESSES)
    try:
        for mode in tallies:
            warm[mode] = crowd.run(mode, _variant(seeded, mode), warmup)
        for n in range(rounds):
            for mode in list(tallies) if n % 2 == 0 else reversed(list(tallies)):
                tallies[mode].append(crowd.run(mode, _variant(seeded, mode), per_round))
        checked = _check_sale(
            seeded,
            sold_calls=sum(t.ok for t in tallies["checkout"]) + warm["checkout"].ok,
            raw_calls=sum(t.ok for t in tallies["raw"]) + warm["raw"].ok,
        )
        last = _last_units(crowd, seeded)
    finally:
        crowd.close()
    runs = {
        mode: [_result(names[mode], label, t, per_round) for t in ts]
        for mode, ts in tallies.items()
    }
    real, raw = merge(runs["checkout"]), merge(runs["raw"])
    for result, mode in ((real, "checkout"), (raw, "raw")):
        sold_out = sum(t.sold_out for t in tallies[mode])
        result.notes = [n for n in result.notes if "sold-out" not in n]
        result.notes += [f"{sold_out} sold-out answers"] if sold_out else []
    ratios = sorted(r.rps / b.rps for r, b in zip(runs["checkout"], runs["raw"], strict=True))
    notes = [
        f"flash sale: {BUYERS} buyers ({label}) on one variant, in-process on PostgreSQL; "
        f"checkout = orders.checkout.start_checkout, 1 unit a call",
        f"flash-sale checkout / raw UPDATE: {real.rps / raw.rps:.3f}x per second "
        f"(rounds {ratios[0]:.3f}-{ratios[-1]:.3f}); p99 {real.p99_ms:.1f} ms vs "
        f"{raw.p99_ms:.1f} ms ({real.p99_ms / raw.p99_ms:.1f}x)",
        checked,
        last,
    ]
    return [real, raw], notes


def _variant(seeded: Seeded, mode: str) -> int:
    return seeded.variant_id if mode == "checkout" else seeded.raw_variant_id
