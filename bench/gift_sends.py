"""Gift sends to one hot creator: 64 senders at once, beside the design the app avoids.

The real path is `gifts.sending.services.send_gift`: one transaction that locks only the
sender's wallet row (conditional debit), inserts the creator's diamonds entry and the
platform's share without touching their rows (deferred-balance accounts), and the send row.
The yardstick is the same call to a second creator whose diamonds account is an ordinary
ledger account (locked and moved per posting), i.e. every sender queues on the creator's row.
Both run from the same 64 senders (processes x threads, one PostgreSQL connection each) in
alternating rounds, so whatever else the machine does weighs on both alike. Afterwards the
books are checked: per sender coins credited = wallet + coins sent, each creator's diamonds =
the sum of their shares (after a fold too), one ledger posting per send.

No HTTP or WebSocket here: the room's gift storm bench measures those; this one the ledger.
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

SENDERS = 64
PROCESSES = int(os.environ.get("BENCH_GIFT_PROCESSES", "16"))
COINS_EACH = 1_000_000
HOT = "benchgifthot"
LOCKED = "benchgiftlocked"
SENDER_PREFIX = "benchgiftsender"
ROUND_TIMEOUT = 60.0


@dataclass(frozen=True)
class Phase:
    mode: str  # "deferred": to the hot creator as built; "locked": to the row-locked yardstick
    host_id: int
    gift_id: int
    tag: str  # makes client tokens unique per round
    start_at: float
    end_at: float


@dataclass
class Tally:
    ok: int = 0
    errors: int = 0
    first_error: str = ""
    latencies_ms: list[float] = field(default_factory=list)
    finished_at: float = 0.0

    def add(self, other: "Tally") -> None:
        self.ok += other.ok
        self.errors += other.errors
        self.first_error = self.first_error or other.first_error
        self.latencies_ms += other.latencies_ms
        self.finished_at = max(self.finished_at, other.finished_at)


@dataclass(frozen=True)
class Seeded:
    hosts: dict[str, int]
    gift_id: int
    senders: list[int]


def _delete_bench_rows() -> None:
    from gifts.models import Gift, GiftingProfile, GiftSend
    from orders.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
    from shopfeed.accounts.models import User

    users = User.objects.filter(handle__startswith="benchgift")
    accounts = LedgerAccount.objects.filter(user__in=users)
    txn_ids = set(
        LedgerEntry.objects.filter(account__in=accounts).values_list("transaction_id", flat=True)
    )
    GiftSend.objects.filter(sender__in=users).delete()
    # Whole transactions go, so every remaining one still balances (the trigger checks).
    LedgerEntry.objects.filter(transaction_id__in=txn_ids).delete()
    LedgerTransaction.objects.filter(pk__in=txn_ids).delete()
    accounts.delete()
    GiftingProfile.objects.filter(user__in=users).delete()
    Gift.objects.filter(slug="bench-rose").delete()
    users.delete()


def seed() -> Seeded:
    """Replace this bench's rows (users benchgift*, their sends and ledger rows) only."""
    from datetime import date

    from django.contrib.auth.hashers import make_password

    from gifts import wallet
    from gifts.models import Gift
    from orders.ledger import services as ledger
    from orders.ledger.models import LedgerAccount
    from shopfeed.accounts.models import User

    adult = date(1990, 1, 1)
    unusable = make_password(None)
    with transaction.atomic():
        _delete_bench_rows()
        hosts = {
            mode: User.objects.create(
                username=handle, handle=handle, is_creator=True, birth_date=adult, password=unusable
            )
            for mode, handle in (("deferred", HOT), ("locked", LOCKED))
        }
        # The yardstick's diamonds: an ordinary account, locked and moved by every posting.
        ledger.account(
            kind=LedgerAccount.Kind.CREATOR_DIAMONDS,
            currency=wallet.COIN,
            user=hosts["locked"],
            deferred_balance=False,
        )
        wallet.diamonds_account(hosts["deferred"])
        gift = Gift.objects.create(
            name="Bench rose",
            slug="bench-rose",
            coins=1,
            is_comboable=True,
            image=_tiny_png(),
        )
        senders = User.objects.bulk_create(
            User(
                username=f"{SENDER_PREFIX}{n}",
                handle=f"{SENDER_PREFIX}{n}",
                birth_date=adult,
                password=unusable,
            )
            for n in range(SENDERS)
        )
        for s in senders:
            wallet.credit_coins(
                user=s, coins=COINS_EACH, reference=f"bench:gift:{s.pk}", kind="bench_credit"
            )
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    return Seeded(
        hosts={m: u.pk for m, u in hosts.items()}, gift_id=gift.pk, senders=[s.pk for s in senders]
    )


def _tiny_png():
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (220, 40, 70)).save(buf, format="PNG")
    return SimpleUploadedFile("rose.png", buf.getvalue(), content_type="image/png")


class _Sender(threading.Thread):
    def __init__(self, user_id: int):
        super().__init__(daemon=True)
        self.user_id = user_id
        self.user = None
        self.hosts: dict[int, object] = {}
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
        from gifts.sending.services import send_gift
        from shopfeed.accounts.models import User

        if self.user is None:  # also connects, before the clock starts
            self.user = User.objects.get(pk=self.user_id)
        if phase.host_id not in self.hosts:
            self.hosts[phase.host_id] = User.objects.get(pk=phase.host_id)
        host = self.hosts[phase.host_id]
        tally = Tally()
        n = 0
        while (now := time.monotonic()) < phase.start_at:
            time.sleep(min(phase.start_at - now, 0.05))
        while True:
            t0 = time.monotonic()
            n += 1
            try:
                send_gift(
                    sender=self.user,
                    host=host,
                    gift=phase.gift_id,
                    count=1,
                    client_token=f"{phase.tag}-{n}",
                )
            except Exception as exc:  # noqa: BLE001 - counted and shown, the run goes on
                tally.errors += 1
                tally.first_error = tally.first_error or repr(exc)
            else:
                tally.ok += 1
                tally.latencies_ms.append((time.monotonic() - t0) * 1000)
            tally.finished_at = time.monotonic()
            if tally.finished_at >= phase.end_at:
                return tally


def _process_main(pipe, user_ids: list[int]) -> None:
    senders = [_Sender(u) for u in user_ids]
    for s in senders:
        s.start()
    while (phase := pipe.recv()) is not None:
        for i, s in enumerate(senders):
            s.inbox.put(
                Phase(
                    phase.mode,
                    phase.host_id,
                    phase.gift_id,
                    f"{phase.tag}-{s.user_id}-{i}",
                    phase.start_at,
                    phase.end_at,
                )
            )
        total = Tally()
        for s in senders:
            total.add(s.outbox.get())
        pipe.send(total)
    for s in senders:
        s.inbox.put(None)
    for s in senders:
        s.join(timeout=10)


class _Crowd:
    def __init__(self, senders: list[int], processes: int):
        if not 1 <= processes <= len(senders):
            raise BenchError(f"BENCH_GIFT_PROCESSES must be 1..{len(senders)}")
        connections.close_all()  # never share a connection across fork
        ctx = mp.get_context("fork")
        self.procs, self.pipes = [], []
        for n in range(processes):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_process_main, args=(child, senders[n::processes]))
            proc.start()
            self.procs.append(proc)
            self.pipes.append(parent)
        self.rounds = 0

    def run(self, mode: str, host_id: int, gift_id: int, seconds: float) -> Tally:
        self.rounds += 1
        start_at = time.monotonic() + 0.5
        phase = Phase(mode, host_id, gift_id, f"r{self.rounds}", start_at, start_at + seconds)
        for pipe in self.pipes:
            pipe.send(phase)
        total = Tally()
        for proc, pipe in zip(self.procs, self.pipes, strict=True):
            if not pipe.poll(seconds + ROUND_TIMEOUT):
                raise BenchError(f"a sender process did not answer (alive: {proc.is_alive()})")
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


def _check_books(seeded: Seeded, sent: dict[str, int]) -> str:
    """After the load: nothing lost or doubled, per sender and per creator."""
    from django.db.models import Count, Sum

    from gifts import wallet
    from gifts.models import GiftSend
    from orders.ledger import services as ledger
    from shopfeed.accounts.models import User

    problems = []
    per_sender = dict(
        GiftSend.objects.filter(sender_id__in=seeded.senders)
        .values("sender_id")
        .annotate(t=Sum("coins_total"))
        .values_list("sender_id", "t")
    )
    for user in User.objects.filter(pk__in=seeded.senders):
        held = wallet.wallet_balance(user)
        if held < 0 or held + per_sender.get(user.pk, 0) != COINS_EACH:
            problems.append(f"sender {user.pk}: wallet {held} + sent {per_sender.get(user.pk)}")
    for mode, host_id in seeded.hosts.items():
        host = User.objects.get(pk=host_id)
        agg = GiftSend.objects.filter(host=host).aggregate(
            n=Count("pk"), d=Sum("creator_diamonds"), t=Count("ledger_transaction")
        )
        if agg["n"] != sent[mode] or agg["t"] != sent[mode]:
            problems.append(f"{mode}: {agg['n']} sends, {agg['t']} postings, {sent[mode]} calls")
        if wallet.diamonds_balance(host) != (agg["d"] or 0):
            problems.append(f"{mode}: diamonds {wallet.diamonds_balance(host)} != {agg['d']}")
    folded = ledger.fold_deferred_balances()
    hot = wallet.diamonds_account(User.objects.get(pk=seeded.hosts["deferred"]))
    hot.refresh_from_db()
    if hot.balance_amount != ledger.balance(hot):
        problems.append(f"hot creator after fold: cached {hot.balance_amount}")
    if problems:
        raise BenchError("gift sends do not add up: " + "; ".join(problems[:5]))
    return (
        f"books checked: {len(seeded.senders)} wallets = credits - coins sent, none negative; "
        f"diamonds = sum of shares for both creators; one posting per send; "
        f"{folded} hot entries folded, cached = sum of entries"
    )


def run(*, duration: float, warmup: float, rounds: int, **_):
    """Sends to the hot creator (as built) and to the row-locked yardstick, alternating."""
    seeded = seed()
    per_round = duration / rounds
    label = f"{PROCESSES} procs x {SENDERS // PROCESSES} thr"
    names = {"deferred": "gift send, hot creator", "locked": "gift send, creator row-locked"}
    tallies: dict[str, list[Tally]] = {"deferred": [], "locked": []}
    loads: list[float] = []
    sent = {"deferred": 0, "locked": 0}
    crowd = _Crowd(seeded.senders, PROCESSES)
    try:
        for mode in tallies:
            warm = crowd.run(mode, seeded.hosts[mode], seeded.gift_id, warmup)
            sent[mode] += warm.ok
        for n in range(rounds):
            for mode in list(tallies) if n % 2 == 0 else reversed(list(tallies)):
                loads.append(os.getloadavg()[0])
                t = crowd.run(mode, seeded.hosts[mode], seeded.gift_id, per_round)
                tallies[mode].append(t)
                sent[mode] += t.ok
    finally:
        crowd.close()
    checked = _check_books(seeded, sent)
    runs = {
        mode: [
            LoadResult(
                name=names[mode],
                url="",
                client=label,
                concurrency=SENDERS,
                seconds=max(per_round, t.finished_at),
                requests=t.ok,
                errors=t.errors,
                latencies=[(ms, 1.0) for ms in t.latencies_ms],
                notes=[f"first error: {t.first_error}"] if t.errors else [],
            )
            for t in ts
        ]
        for mode, ts in tallies.items()
    }
    real, locked = merge(runs["deferred"]), merge(runs["locked"])
    ratios = sorted(r.rps / b.rps for r, b in zip(runs["deferred"], runs["locked"], strict=True))
    median = ratios[len(ratios) // 2]
    notes = [
        f"gift sends: {SENDERS} senders ({label}) to one creator, in-process on PostgreSQL; "
        "send = gifts.sending.services.send_gift, 1 coin a call",
        f"hot creator / row-locked creator: median {median:.2f}x sends per second "
        f"(rounds {ratios[0]:.2f}-{ratios[-1]:.2f}); p99 {real.p99_ms:.1f} ms vs "
        f"{locked.p99_ms:.1f} ms; load average per round "
        f"{min(loads):.1f}-{max(loads):.1f}",
        checked,
    ]
    return [real, locked], notes
