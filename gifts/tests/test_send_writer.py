"""The room's Redis send path without the room (gifts.sending.store, writer, mirror) on real Redis
and PostgreSQL: the writer and its beat sweep write what was reserved exactly once, PostgreSQL
decides over the mirror (a wallet emptied meanwhile, a sender frozen meanwhile), and the
mirror follows every change. Real processes and sockets: live/tests/test_gift_writer.py."""

import time
import uuid

import pytest
from django.utils import timezone

from gifts import tasks, wallet
from gifts.models import GiftSend
from gifts.sending import mirror, store, writer
from gifts.sending.services import send_gift
from gifts.services import freeze_gifting

from .factories import AdultCreatorFactory, AdultFactory, GiftFactory, give_coins

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture(autouse=True)
def gift_keys(redis_url, settings):
    settings.GIFTS_REDIS_URL = redis_url
    settings.GIFTS_KEY_PREFIX = f"gifts-{uuid.uuid4().hex[:10]}:"
    yield
    r = store.client()
    keys = list(r.scan_iter(f"{settings.GIFTS_KEY_PREFIX}*"))
    if keys:
        r.delete(*keys)


@pytest.fixture
def host(db):
    return AdultCreatorFactory()


@pytest.fixture
def heart(db):
    return GiftFactory(coins=1)


def reserve(sender, host, gift, count: int, token: str) -> str:
    """What the room's script does for a send (without the room event): its reply code."""
    today = timezone.localdate()
    for _ in range(3):
        code, *_ = store.reserve(
            uid=uuid.uuid4().hex, sender_id=sender.pk, host_id=host.pk, gift_id=gift.pk,
            count=count, coins=gift.coins * count, session_id=None, client_token=token,
            today=mirror.today_number(today), day=today.isoformat(),
            sent_ms=int(time.time() * 1000),
        )  # fmt: skip
        if code == "prime":
            mirror.prime_sender(user_id=sender.pk)
        elif code == "host":
            mirror.host_facts(host.pk)
        else:
            return code
    raise AssertionError("the mirror stayed stale")


def token_state(user, token: str) -> str | None:
    return store.client().hget(store.token_key(user.pk, token), "st")


def test_the_beat_sweep_writes_the_sends_a_dead_writer_had_taken(host, heart, settings):
    ana = AdultFactory()
    give_coins(ana, 10)
    assert [reserve(ana, host, heart, 2, f"t{n}") for n in range(3)] == ["ok"] * 3
    store.ensure_group()
    taken = store.read_batch(consumer="dead", count=10, block_ms=0, reclaim_idle_ms=60_000)
    assert len(taken) == 3  # read by a writer that then died: pending in the group
    settings.GIFTS_WRITER_RECLAIM_MS = 0

    assert tasks.write_gift_sends_task() == 3

    assert sorted(GiftSend.objects.filter(sender=ana).values_list("client_token", flat=True)) == [
        "t0", "t1", "t2",
    ]  # fmt: skip
    assert wallet.wallet_balance(ana) == 4
    assert [token_state(ana, f"t{n}") for n in range(3)] == ["w"] * 3
    assert store.backlog() == 0
    assert tasks.write_gift_sends_task() == 0  # nothing written twice
    assert GiftSend.objects.filter(sender=ana).count() == 3


def test_postgresql_refuses_a_reserved_send_the_wallet_can_no_longer_pay(host, heart):
    ana = AdultFactory()
    give_coins(ana, 10)
    assert reserve(ana, host, heart, 8, "room") == "ok"
    # Meanwhile an HTTP send takes the PostgreSQL path (which does not see Redis's pending send).
    send_gift(sender=ana, host=host, gift=heart, count=5, client_token="http")

    writer.drain(consumer="w")

    assert token_state(ana, "room") == "r:coins"
    assert not GiftSend.objects.filter(sender=ana, client_token="room").exists()
    assert wallet.wallet_balance(ana) == 5
    # The HTTP send marked the mirror stale: the next send is checked against the 5 coins left.
    assert reserve(ana, host, heart, 6, "too-much") == "coins"
    assert store.spendable(ana.pk) == 5


def test_a_sender_frozen_after_reserving_is_refused_by_the_writer(host, heart):
    ana = AdultFactory()
    give_coins(ana, 10)
    assert reserve(ana, host, heart, 3, "before") == "ok"
    freeze_gifting(user=ana, reason="Card dispute")

    writer.drain(consumer="w")

    assert token_state(ana, "before") == "r:frozen"
    assert not GiftSend.objects.filter(sender=ana).exists()
    assert wallet.wallet_balance(ana) == 10
    assert reserve(ana, host, heart, 1, "after") == "frozen"


def test_a_resend_with_the_same_token_is_one_send_and_another_gift_under_it_is_refused(host, heart):
    ana = AdultFactory()
    give_coins(ana, 10)
    assert reserve(ana, host, heart, 2, "same") == "ok"
    assert reserve(ana, host, heart, 2, "same") == "again"
    writer.drain(consumer="w")
    code, state, _uid, balance, same = store.reserve(
        uid="x", sender_id=ana.pk, host_id=host.pk, gift_id=heart.pk, count=3, coins=3,
        session_id=None, client_token="same", today=mirror.today_number(), day="",
        sent_ms=0,
    )  # fmt: skip
    assert (code, state, balance, same) == ("again", "w", 8, 0)  # count 3 is another send
    assert wallet.wallet_balance(ana) == 8
    assert GiftSend.objects.filter(sender=ana).count() == 1
