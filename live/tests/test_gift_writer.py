"""The room's gift sends on Redis and the batch writer, with real processes (uvicorn, `manage.py
gift_writer`, a writer SIGKILLed mid-batch), real WebSocket clients, Redis and PostgreSQL.

The guarantee (DESIGN.md 5a, gifts/sending/): a sender's `gift.ack` comes after the writer
committed the send, so acked => in PostgreSQL, exactly once (one GiftSend row, one balanced
posting); a send the script accepted is written by the writer, or by the next one when a writer
dies; if Redis loses its data before a send is written, that send is never acknowledged and
its coins are never taken. No coin is ever spent twice: the wallet's balance in PostgreSQL
decides under its row lock, and the Redis mirror is rebuilt from it.
"""

import asyncio
import contextlib
import sys
import uuid

import pytest
from django.db.models import Sum

from gifts import wallet
from gifts.models import GiftingProfile, GiftSend
from gifts.sending import store
from gifts.tests.coin_factories import deliver, dispute_payload, make_pack, paid_purchase
from gifts.tests.factories import AdultCreatorFactory, AdultFactory, GiftFactory, give_coins
from live.tests.conftest import reset_room, run
from live.tests.gift_support import clear_gift_keys
from live.tests.room_support import client
from live.tests.selling_support import live_session
from orders.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from shops.tests.factories import ShopFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.services,
]


@pytest.fixture
def prefix(redis_url, settings):
    """Gift keys of this test's own, shared with the processes it starts."""
    settings.GIFTS_REDIS_URL = redis_url
    settings.GIFTS_KEY_PREFIX = f"gifts-{uuid.uuid4().hex[:10]}:"
    yield settings.GIFTS_KEY_PREFIX
    clear_gift_keys(settings.GIFTS_KEY_PREFIX)


@pytest.fixture
def host(db):
    return AdultCreatorFactory(handle="mia")


@pytest.fixture
def room(host):
    session = live_session(ShopFactory(owner=host))
    reset_room(session.pk)
    return session


@pytest.fixture
def heart(db):
    return GiftFactory(name="Heart", slug="heart", coins=1, is_comboable=False)


@pytest.fixture
def server(room_servers, prefix):
    # Senders here may send as fast as they like: the rate limit is not what is tested.
    return room_servers.start(
        GIFTS_KEY_PREFIX=prefix, LIVE_GIFT_RATE="100000", GIFTS_ACK_WAIT_SECONDS="40"
    )


class Writers:
    """`manage.py gift_writer` processes (and doomed ones), stopped at the end of the test."""

    def __init__(self, redis_url, prefix, tmp_path):
        self.env = {"REDIS_URL": redis_url, "GIFTS_KEY_PREFIX": prefix,
                    "GIFTS_WRITER_RECLAIM_MS": "500"}  # fmt: skip
        self.tmp_path = tmp_path
        self.started = []

    def _process(self, args, name):
        from shopfeed.testing import Process, child_env

        process = Process(args, child_env(**self.env), self.tmp_path / f"{name}.log")
        self.started.append(process)
        return process

    def start(self):
        process = self._process([sys.executable, "manage.py", "gift_writer"], "writer")
        process.wait_for_output("started", timeout=60)
        return process

    def doomed(self, when: str):
        """A writer that SIGKILLs itself holding its first batch (gifts/tests/gift_writer_crash)."""
        process = self._process(
            [sys.executable, "-m", "gifts.tests.gift_writer_crash", when], f"doomed-{when}"
        )
        process.proc.wait(60)
        assert "killing myself" in process.output(), process.output()
        return process

    def stop_all(self):
        for process in self.started:
            process.stop()


@pytest.fixture
def writers(redis_url, prefix, tmp_path):
    started = Writers(redis_url, prefix, tmp_path)
    yield started
    started.stop_all()


async def send_gifts(sockets, gift, tokens_per_socket: int, tag: str, pause: float = 0):
    """Every socket sends its gifts (at once, or `pause` apart); returns {token: answer}."""

    async def one(i, socket):
        tokens = [f"{tag}-{i}-{n}" for n in range(tokens_per_socket)]
        for token in tokens:
            await socket.send("gift.send", ref=token, gift=gift.pk, count=1, client_token=token)
            if pause:
                await asyncio.sleep(pause)
        answers = {}
        while len(answers) < len(tokens):
            event = await socket.recv(timeout=60)
            if event["type"] in ("gift.ack", "error") and event["data"].get("ref") in tokens:
                answers[event["data"]["ref"]] = event
        return answers

    got = await asyncio.gather(*(one(i, s) for i, s in enumerate(sockets)))
    return {token: event for answers in got for token, event in answers.items()}


async def ack_of(socket) -> dict:
    """The socket's next `gift.ack` (the room's gift events may come first)."""
    while True:
        event = await socket.recv(timeout=30)
        if event["type"] in ("gift.ack", "error"):
            return event


async def opened(stack, sockets):
    for s in sockets:
        await stack.enter_async_context(s)
        await s.expect("hello")
    await asyncio.sleep(0.6)  # past the room's resume grace


def acked(answers) -> set[str]:
    return {t for t, e in answers.items() if e["type"] == "gift.ack"}


def refused(answers) -> dict[str, str]:
    return {t: e["data"]["code"] for t, e in answers.items() if e["type"] == "error"}


def sent_rows(user) -> dict[str, int]:
    return dict(GiftSend.objects.filter(sender=user).values_list("client_token", "coins_total"))


def assert_books_balance_for(user) -> None:
    acct = LedgerAccount.objects.get(kind=LedgerAccount.Kind.COIN_WALLET, user=user)
    from_entries = LedgerEntry.objects.filter(account=acct).aggregate(t=Sum("amount"))["t"] or 0
    assert acct.balance_amount == from_entries >= 0
    sends = GiftSend.objects.filter(sender=user)
    assert LedgerTransaction.objects.filter(gift_send__in=sends).count() == sends.count()
    for txn in LedgerTransaction.objects.filter(gift_send__in=sends):
        assert sum(txn.entries.values_list("amount", flat=True)) == 0


def test_fifty_sends_at_once_from_a_wallet_holding_twenty_coins_are_twenty_acks_and_rows(
    server, writers, room, heart
):
    ana = AdultFactory(handle="ana")
    give_coins(ana, 20)
    writers.start()
    sockets = [client(server, room.pk, user=ana) for _ in range(10)]

    async def scenario():
        async with contextlib.AsyncExitStack() as stack:
            await opened(stack, sockets)
            return await send_gifts(sockets, heart, 5, "fifty")

    answers = run(scenario(), timeout=120)
    assert len(answers) == 50
    assert len(acked(answers)) == 20
    assert set(refused(answers).values()) == {"insufficient_coins"}
    # Each ack told a different balance, down to 0; the rows are exactly the acked sends.
    balances = sorted(answers[t]["data"]["balance"] for t in acked(answers))
    assert balances == list(range(20))
    assert set(sent_rows(ana)) == acked(answers)
    assert wallet.wallet_balance(ana) == 0
    assert wallet.diamonds_balance(room.host) == 20
    assert_books_balance_for(ana)


@pytest.mark.parametrize("when", ["before-commit", "after-commit"])
def test_a_writer_killed_mid_batch_leaves_every_acked_send_written_exactly_once(
    server, writers, room, heart, when
):
    ana, bob = AdultFactory(handle="ana"), AdultFactory(handle="bob")
    give_coins(ana, 100)
    give_coins(bob, 100)
    sockets = [client(server, room.pk, user=u) for u in (ana, ana, bob)]

    async def scenario():
        async with contextlib.AsyncExitStack() as stack:
            await opened(stack, sockets)
            sending = asyncio.ensure_future(send_gifts(sockets, heart, 10, "kill"))
            await asyncio.sleep(1.0)  # every send reserved, waiting for a writer
            await asyncio.to_thread(writers.doomed, when)
            await asyncio.to_thread(writers.start)  # claims the dead one's entries
            return await sending

    answers = run(scenario(), timeout=150)
    assert len(acked(answers)) == 30, refused(answers)
    for user, n in ((ana, 20), (bob, 10)):
        rows = sent_rows(user)
        assert len(rows) == n
        assert GiftSend.objects.filter(sender=user).values("client_token").distinct().count() == n
        assert wallet.wallet_balance(user) == 100 - n
        assert_books_balance_for(user)
    assert set(sent_rows(ana)) | set(sent_rows(bob)) == acked(answers)
    assert store.backlog() == 0


def test_redis_losing_the_gift_data_mid_storm_loses_no_acked_send_and_spends_no_coin_twice(
    server, writers, room, heart, prefix
):
    ana = AdultFactory(handle="ana")
    give_coins(ana, 40)
    writers.start()
    sockets = [client(server, room.pk, user=ana) for _ in range(6)]

    async def scenario():
        async with contextlib.AsyncExitStack() as stack:
            await opened(stack, sockets)
            sending = asyncio.ensure_future(send_gifts(sockets, heart, 12, "flush", pause=0.1))
            await asyncio.sleep(0.6)
            clear_gift_keys(prefix)  # mirrors, tokens, the stream and its group: all gone
            return await sending

    answers = run(scenario(), timeout=150)
    rows = sent_rows(ana)
    # Every acked send is written once; what was lost with Redis was never acknowledged.
    assert acked(answers) <= set(rows)
    assert set(refused(answers).values()) <= {"insufficient_coins", "busy"}
    assert len(rows) <= 40
    assert wallet.wallet_balance(ana) == 40 - sum(rows.values()) >= 0
    assert_books_balance_for(ana)
    # The mirror rebuilt itself from PostgreSQL: it says what the wallet holds.
    assert store.spendable(ana.pk) == wallet.wallet_balance(ana)


def test_a_top_up_is_spendable_at_once(server, writers, room, heart):
    ana = AdultFactory(handle="ana")
    writers.start()
    socket = client(server, room.pk, user=ana)

    async def scenario():
        async with contextlib.AsyncExitStack() as stack:
            await opened(stack, [socket])
            first = await send_gifts([socket], heart, 1, "broke")
            await asyncio.to_thread(give_coins, ana, 5)
            second = await send_gifts([socket], heart, 1, "topped")
            return first, second

    first, second = run(scenario())
    assert list(refused(first).values()) == ["insufficient_coins"]
    (ack,) = second.values()
    assert ack["type"] == "gift.ack"
    assert ack["data"]["balance"] == 4
    assert wallet.wallet_balance(ana) == 4


def test_a_resend_with_the_same_token_debits_once_even_while_the_first_is_being_written(
    server, writers, room, heart
):
    ana = AdultFactory(handle="ana")
    give_coins(ana, 10)
    sockets = [client(server, room.pk, user=ana) for _ in range(3)]

    async def scenario():
        async with contextlib.AsyncExitStack() as stack:
            await opened(stack, sockets)
            for s in sockets:  # three reconnections resending one gift, before any writer
                await s.send("gift.send", ref="x", gift=heart.pk, count=1, client_token="once")
            await asyncio.sleep(0.5)
            await asyncio.to_thread(writers.start)
            return [await ack_of(s) for s in sockets]

    acks = run(scenario(), timeout=90)
    assert len({a["data"]["send"] for a in acks}) == 1
    assert {a["data"]["balance"] for a in acks} == {9}
    assert sent_rows(ana) == {"once": 1}
    assert wallet.wallet_balance(ana) == 9


def test_a_card_dispute_freezes_sending_at_once(server, writers, room, heart, localstripe):
    from django.test import Client

    ana = AdultFactory(handle="ana")
    http = Client()
    purchase = paid_purchase(http, buyer=ana, pack=make_pack(coins=350, usd=449).pk)
    writers.start()
    socket = client(server, room.pk, user=ana)

    async def scenario():
        async with contextlib.AsyncExitStack() as stack:
            await opened(stack, [socket])
            before = await send_gifts([socket], heart, 1, "before")
            await asyncio.to_thread(deliver, http, dispute_payload(purchase))
            after = await send_gifts([socket], heart, 1, "after")
            return before, after

    before, after = run(scenario(), timeout=90)
    assert [e["type"] for e in before.values()] == ["gift.ack"]
    assert list(refused(after).values()) == ["gifting_frozen"]
    assert GiftingProfile.objects.get(user=ana).is_frozen
    # The dispute took back the 349 unspent coins; the one sent stays sent.
    assert wallet.wallet_balance(ana) == 0
    assert list(sent_rows(ana)) == ["before-0-0"]
