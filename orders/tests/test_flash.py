"""The flash-sale path (orders.flash) on real PostgreSQL and Redis, with real threads and real
writer processes: never oversold, every reservation written exactly once, nothing lost when
Redis loses its keys or a writer dies."""

import os
import signal
import sys

import pytest
from django.db.models import Sum

from orders.checkout.services import LineRequest, release_checkout
from orders.errors import SoldOut
from orders.flash import selectors as flash_selectors
from orders.flash import services as flash
from orders.flash import store, writer
from orders.models import Checkout, FlashReservation, Order, OrderItem
from shopfeed.errors import ShopFeedError
from shopfeed.testing import Process, child_env, wait_until
from shops.models import Variant
from shops.tests.factories import VariantFactory

from .factories import ADDRESS
from .flash_support import WriterThread, buyers_for, race


def _reserved(results) -> list[flash.Reservation]:
    return [r for r in results if isinstance(r, flash.Reservation)]


def _units_sold(variant) -> int:
    return (
        OrderItem.objects.filter(variant=variant).exclude(order__status=Order.Status.CANCELLED)
    ).aggregate(n=Sum("quantity"))["n"] or 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_hundred_buyers_for_fifty_units_get_exactly_fifty_checkouts(flash_redis):
    variant = VariantFactory(quantity=50, price_amount=2500, flash_sale=True)
    buyers = buyers_for(200)

    with WriterThread():
        results = race(buyers, variant.pk)
        wait_until(lambda: store.backlog() == 0, what="the writer wrote every reservation")

    won = _reserved(results)
    assert len(won) == 50
    assert results.count("sold_out") == 150
    variant.refresh_from_db()
    assert variant.quantity == 0
    assert Checkout.objects.filter(status=Checkout.Status.OPEN).count() == 50
    assert Order.objects.filter(total_amount=2500).count() == 50
    assert _units_sold(variant) == 50
    assert sorted(
        FlashReservation.objects.filter(status="written").values_list("reservation_id", flat=True)
    ) == sorted(r.id for r in won)
    assert flash_redis.get(store.k("stock", variant.pk)) == "0"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_redis_flushed_mid_sale_sells_every_unit_exactly_once(flash_redis):
    variant = VariantFactory(quantity=60, flash_sale=True)
    buyers = buyers_for(200)

    with WriterThread():
        first = race(buyers[:40], variant.pk)
        flash_redis.flushdb()  # a Redis restart without persistence, mid-sale
        second = race(buyers[40:], variant.pk)
        wait_until(lambda: store.backlog() == 0, what="the writer caught up")
    flash.reconcile()

    variant.refresh_from_db()
    sold = _units_sold(variant)
    assert variant.quantity >= 0
    assert sold + variant.quantity == 60  # no unit sold twice, none lost
    assert (
        Order.objects.count() == sold == FlashReservation.objects.filter(status="written").count()
    )
    # Every reservation the buyers were given is a checkout, or refused, or reported lost.
    states = {
        r.id: flash_selectors.reservation_outcome(reservation_id=r.id, buyer=b)[0]
        for b, r in zip(buyers, first + second, strict=True)
        if isinstance(r, flash.Reservation)
    }
    assert set(states.values()) <= {"written", "rejected", "lost"}
    assert list(states.values()).count("written") == sold
    # What Redis says is left is what PostgreSQL has, and all of it can still be sold.
    assert int(flash_redis.get(store.k("stock", variant.pk))) == variant.quantity
    with WriterThread():
        last = race(buyers_for(variant.quantity + 10), variant.pk)
        wait_until(lambda: store.backlog() == 0, what="the writer caught up")
    assert len(_reserved(last)) == variant.quantity
    variant.refresh_from_db()
    assert variant.quantity == 0
    assert _units_sold(variant) == 60 == Order.objects.count()


def _fill(variant, buyers) -> list[flash.Reservation]:
    return [
        flash.reserve(buyer=b, line=LineRequest(variant.pk, 1), address=ADDRESS) for b in buyers
    ]


def _writer_process(tmp_path, settings, *args: str) -> Process:
    env = child_env(FLASH_KEY_PREFIX=settings.FLASH_KEY_PREFIX, FLASH_WRITER_BATCH="100")
    return Process([sys.executable, *args], env, tmp_path / "writer.log")


def _assert_each_written_once(variant, reservations, stock: int) -> None:
    written = FlashReservation.objects.filter(status="written")
    assert sorted(written.values_list("reservation_id", flat=True)) == sorted(
        r.id for r in reservations
    )
    assert Checkout.objects.count() == len(reservations) == Order.objects.count()
    variant.refresh_from_db()
    assert variant.quantity == stock - len(reservations)


@pytest.mark.postgres
@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_writer_killed_mid_batch_leaves_every_reservation_written_once(
    flash_redis, tmp_path, settings
):
    variant = VariantFactory(quantity=2000, flash_sale=True)
    reservations = _fill(variant, buyers_for(1500))
    store.ensure_group()

    def holds_a_batch():
        summary = flash_redis.xpending(store.k("stream"), store.GROUP)
        return summary["pending"] > 0 and FlashReservation.objects.exists()

    # A kill can land just after an acknowledgement, between two batches: then the next writer
    # process is killed too, until one dies holding entries it had read and not acknowledged.
    for attempt in range(5):
        proc = _writer_process(
            tmp_path, settings, "manage.py", "flash_writer", "--name", f"victim{attempt}"
        )
        try:
            wait_until(holds_a_batch, timeout=60, interval=0.005, what="the writer is mid-batch")
            proc.proc.send_signal(signal.SIGKILL)
            proc.proc.wait(10)
        finally:
            proc.stop()
        assert proc.proc.returncode == -signal.SIGKILL
        if flash_redis.xpending(store.k("stream"), store.GROUP)["pending"] > 0:
            break
    # It died holding entries it had read and not acknowledged (written or not).
    assert flash_redis.xpending(store.k("stream"), store.GROUP)["pending"] > 0
    assert FlashReservation.objects.count() <= 1500

    settings.FLASH_WRITER_RECLAIM_MS = 0  # the next writer takes the dead one's entries
    writer.drain(consumer="next")

    _assert_each_written_once(variant, reservations, 2000)
    assert store.backlog() == 0


@pytest.mark.postgres
@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_writer_killed_after_commit_before_ack_writes_nothing_twice(
    flash_redis, tmp_path, settings
):
    variant = VariantFactory(quantity=300, flash_sale=True)
    reservations = _fill(variant, buyers_for(250))
    proc = _writer_process(tmp_path, settings, "-m", "orders.tests.flash_writer_crash")
    try:
        proc.proc.wait(60)
    finally:
        proc.stop()
    assert proc.proc.returncode == -signal.SIGKILL, proc.output()
    assert FlashReservation.objects.count() == 100  # its first batch, committed, never acked

    settings.FLASH_WRITER_RECLAIM_MS = 0
    writer.drain(consumer="next")

    _assert_each_written_once(variant, reservations, 300)
    assert store.backlog() == 0


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


@pytest.mark.postgres
@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_writer_processes_share_the_stream_and_one_killed_is_replaced(
    flash_redis, tmp_path, settings
):
    variant = VariantFactory(quantity=2000, flash_sale=True)
    reservations = _fill(variant, buyers_for(1500))
    env = child_env(
        FLASH_KEY_PREFIX=settings.FLASH_KEY_PREFIX, FLASH_WRITER_BATCH="50",
        FLASH_WRITER_RECLAIM_MS="300",
    )  # fmt: skip
    args = [sys.executable, "manage.py", "flash_writer", "--processes", "3", "--name", "pool"]
    proc = Process(args, env, tmp_path / "writers.log")
    try:
        proc.wait_for_output("started: 3 processes")
        wait_until(lambda: len(_children(proc.proc.pid)) == 3, what="three writer processes")
        wait_until(FlashReservation.objects.exists, interval=0.005, what="a first batch")
        os.kill(_children(proc.proc.pid)[0], signal.SIGKILL)
        wait_until(lambda: store.backlog() == 0, timeout=90, what="the writers wrote everything")
        proc.wait_for_output("exited (-9); again")
        consumers = {c["name"] for c in flash_redis.xinfo_consumers(store.k("stream"), store.GROUP)}
    finally:
        proc.stop()

    assert proc.proc.returncode == 0, proc.output()  # stopped by SIGTERM, cleanly
    assert consumers == {"pool-0", "pool-1", "pool-2"}
    _assert_each_written_once(variant, reservations, 2000)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_per_buyer_limit_holds_under_concurrent_attempts(flash_redis):
    variant = VariantFactory(quantity=100, flash_sale=True, flash_limit_per_buyer=2)
    (buyer,) = buyers_for(1)

    results = race([buyer] * 8, variant.pk)

    assert len(_reserved(results)) == 2
    assert results.count("flash_limit") == 6
    with pytest.raises(ShopFeedError) as exc:
        flash.reserve(buyer=buyer, line=LineRequest(variant.pk, 1), address=ADDRESS)
    assert exc.value.code == "flash_limit"
    writer.drain(consumer="test")
    assert Checkout.objects.filter(buyer=buyer).count() == 2
    variant.refresh_from_db()
    assert variant.quantity == 98


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_expired_flash_checkout_gives_its_unit_back_to_the_next_buyer(flash_redis):
    variant = VariantFactory(quantity=1, flash_sale=True, flash_limit_per_buyer=1)
    first, second = buyers_for(2)
    flash.reserve(buyer=first, line=LineRequest(variant.pk, 1), address=ADDRESS)
    writer.drain(consumer="test")
    with pytest.raises(SoldOut):
        flash.reserve(buyer=second, line=LineRequest(variant.pk, 1), address=ADDRESS)

    checkout = Checkout.objects.get(buyer=first)
    assert release_checkout(checkout_id=checkout.pk)

    variant.refresh_from_db()
    assert variant.quantity == 1
    flash.reserve(buyer=second, line=LineRequest(variant.pk, 1), address=ADDRESS)
    # The first buyer's limit counts only what they still hold: they may buy again.
    assert flash_redis.hget(store.k("buyers", variant.pk), str(first.pk)) in (None, "0")
    writer.drain(consumer="test")
    variant.refresh_from_db()
    assert variant.quantity == 0
    assert Checkout.objects.get(buyer=second).status == Checkout.Status.OPEN


@pytest.mark.django_db
def test_flash_variant_in_a_mixed_cart_is_refused(flash_redis):
    from orders.checkout.services import start_checkout

    hot = VariantFactory(quantity=5, flash_sale=True)
    plain = VariantFactory(quantity=5)
    (buyer,) = buyers_for(1)
    with pytest.raises(ShopFeedError) as exc:
        start_checkout(
            buyer=buyer, lines=[LineRequest(hot.pk, 1), LineRequest(plain.pk, 1)], address=ADDRESS
        )
    assert exc.value.code == "flash_separately"
    assert Variant.objects.get(pk=plain.pk).quantity == 5


# --- the buyer's pages -----------------------------------------------------------------------

FORM = {"address": "new", **ADDRESS, "buy_now": "1"}


def _buy_now(client, variant) -> "object":
    client.post("/buy-now/", {"variant_id": variant.pk, "quantity": 1})
    return client.post("/checkout/", FORM)


@pytest.mark.django_db
def test_a_reserved_buyer_lands_on_the_pay_page_of_their_checkout(flash_redis, client, settings):
    settings.FLASH_WAIT_SECONDS = 0
    variant = VariantFactory(quantity=3, price_amount=1900, flash_sale=True)
    (buyer,) = buyers_for(1)
    client.force_login(buyer)

    response = _buy_now(client, variant)
    assert response.status_code == 302
    reserved_url = response["Location"]
    assert reserved_url.startswith("/checkout/reserved/")
    waiting = client.get(reserved_url)  # the writer has not run yet
    assert waiting.status_code == 202
    assert "Your item is reserved" in waiting.content.decode()
    assert 'hx-trigger="every 1s"' in waiting.content.decode()

    writer.drain(consumer="test")

    checkout = Checkout.objects.get(buyer=buyer)
    assert checkout.total_amount == 1900
    assert client.get(reserved_url)["Location"] == f"/checkout/{checkout.pk}/pay/"
    polled = client.get(reserved_url, headers={"HX-Request": "true"})
    assert polled["HX-Redirect"] == f"/checkout/{checkout.pk}/pay/"


@pytest.mark.django_db
def test_the_buyer_after_the_last_unit_is_told_sold_out_at_once(flash_redis, client):
    variant = VariantFactory(quantity=1, flash_sale=True)
    first, second = buyers_for(2)
    flash.reserve(buyer=first, line=LineRequest(variant.pk, 1), address=ADDRESS)
    client.force_login(second)

    response = _buy_now(client, variant)

    assert response.status_code == 409
    assert "just sold out" in response.content.decode()
    assert store.backlog() == 1  # only the first buyer's reservation


@pytest.mark.django_db
def test_someone_elses_reservation_shows_nothing_of_it(flash_redis, client, settings):
    settings.FLASH_WAIT_SECONDS = 0
    variant = VariantFactory(quantity=3, flash_sale=True)
    owner, other = buyers_for(2)
    reservation = flash.reserve(buyer=owner, line=LineRequest(variant.pk, 1), address=ADDRESS)
    writer.drain(consumer="test")
    client.force_login(other)

    response = client.get(f"/checkout/reserved/{reservation.id}/")

    assert response.status_code == 404
    assert "/pay/" not in response.content.decode()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_beat_sweep_writes_what_no_writer_took_and_heals_a_drifted_count(flash_redis):
    from orders.flash.tasks import reconcile_flash_task

    variant = VariantFactory(quantity=10, flash_sale=True)
    reservations = _fill(variant, buyers_for(3))
    flash_redis.set(store.k("stock", variant.pk), 99)  # drifted (say, a manual stock edit)

    assert reconcile_flash_task() == 3

    _assert_each_written_once(variant, reservations, 10)
    assert flash_redis.get(store.k("stock", variant.pk)) == "7"
