"""Payouts: the hold after delivery, gathering withdrawable money, sending it exactly once
(twice in a row, from two threads at once, after a real kill between the transfer and our
commit, and end to end through a real Celery worker), failures, holds, and the pages."""

import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from orders.errors import PaymentError
from orders.ledger import accounting
from orders.ledger.models import LedgerAccount, LedgerTransaction
from orders.models import Payout, PayoutAccount
from orders.payouts import services as payouts
from orders.payouts.tasks import create_payouts_task, send_payout_task
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.errors import NotAllowed, ShopFeedError
from shopfeed.testing import child_env, wait_until

from .factories import (
    DeliveredOrderFactory,
    PaidOrderFactory,
    PayoutAccountFactory,
    RefundFactory,
)
from .fake_connect import SECRET_KEY

# Orders are paid at localstripe and delivered through the fulfilment service, now: times in
# these tests count from an order's delivered_at.
pytestmark = pytest.mark.usefixtures("localstripe")

Kind = LedgerAccount.Kind


def delivered(shop, total: int):
    """An order of `total` from `shop`, paid, shipped and delivered through the services."""
    return DeliveredOrderFactory(shop=shop, price_amount=total)


def after_hold(order):
    """A day past the payout hold of an order delivered now."""
    return order.delivered_at + timedelta(days=8)


def _balances(shop, currency="USD"):
    return accounting.shop_balances(shop, currency)


def _paid_out(currency="USD"):
    acct = LedgerAccount.objects.filter(kind=Kind.PAID_OUT, currency=currency).first()
    return acct.balance_amount if acct else 0


def _sent_postings(payout):
    return LedgerTransaction.objects.filter(reference=f"payout:{payout.pk}:sent").count()


def _ready_payout(shop, total=10_000) -> Payout:
    """A delivered order past its hold, released and gathered into one pending payout."""
    PayoutAccountFactory(shop=shop)
    order = delivered(shop, total)
    payouts.release_due_payables(now=after_hold(order))
    (payout,) = payouts.create_payouts(now=after_hold(order))
    return payout


# --- the hold --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_payable_stays_pending_until_the_hold_after_delivery_passes(shop):
    order = delivered(shop, 10_000)  # fee 10% -> 9,000 net
    T0 = order.delivered_at

    assert payouts.release_due_payables(now=T0 + timedelta(days=6, hours=23)) == []
    assert _balances(shop)["pending"] == 9_000
    assert _balances(shop)["withdrawable"] == 0

    assert payouts.release_due_payables(now=T0 + timedelta(days=7)) == [order.pk]
    assert _balances(shop)["pending"] == 0
    assert _balances(shop)["withdrawable"] == 9_000
    order.refresh_from_db()
    assert order.released_at == T0 + timedelta(days=7)


@pytest.mark.django_db
def test_an_order_not_yet_delivered_is_never_released(shop):
    order = PaidOrderFactory(shop=shop, price_amount=10_000)
    assert payouts.release_due_payables(now=order.paid_at + timedelta(days=365)) == []
    assert _balances(shop)["withdrawable"] == 0


@pytest.mark.django_db
def test_releasing_twice_moves_the_money_once(shop):
    order = delivered(shop, 10_000)
    payouts.release_due_payables(now=after_hold(order))
    assert payouts.release_due_payables(now=after_hold(order)) == []
    assert _balances(shop)["withdrawable"] == 9_000


@pytest.mark.django_db
def test_a_refund_during_the_hold_releases_only_what_is_left(shop):
    order = delivered(shop, 10_000)
    RefundFactory(order=order, amount=4_000)  # seller gives back 3,600, the platform 400 of its fee
    payouts.release_due_payables(now=after_hold(order))
    assert _balances(shop) == {
        "pending": 0,
        "withdrawable": 5_400,
        "in_transit": 0,
        "balance": 5_400,
    }


@pytest.mark.django_db
def test_hold_length_is_configurable(shop, settings):
    settings.PAYOUT_HOLD_DAYS = 2
    order = delivered(shop, 10_000)
    assert payouts.release_due_payables(now=order.delivered_at + timedelta(days=2)) != []


# --- gathering payouts -----------------------------------------------------------------------


@pytest.mark.django_db
def test_withdrawable_balance_is_gathered_into_one_payout_and_reserved(shop):
    PayoutAccountFactory(shop=shop, stripe_account_id="acct_1SellerOne")
    for total in (10_000, 5_000):
        order = delivered(shop, total)
    payouts.release_due_payables(now=after_hold(order))

    (payout,) = payouts.create_payouts(now=after_hold(order))

    assert (payout.amount, payout.currency, payout.status) == (13_500, "USD", "pending")
    assert payout.destination == "acct_1SellerOne"
    assert payout.idempotency_key == f"payout-{payout.pk}"
    assert _balances(shop) == {
        "pending": 0,
        "withdrawable": 0,
        "in_transit": 13_500,
        "balance": 13_500,
    }


@pytest.mark.django_db
def test_a_second_run_never_gathers_the_same_money_again(shop):
    _ready_payout(shop)
    assert payouts.create_payouts(now=timezone.now() + timedelta(days=8)) == []
    assert Payout.objects.filter(shop=shop).count() == 1


@pytest.mark.django_db
def test_no_payout_below_the_minimum(shop, settings):
    settings.PAYOUT_MINIMUM_AMOUNT = 5_000
    PayoutAccountFactory(shop=shop)
    order = delivered(shop, 5_000)  # 4,500 withdrawable
    payouts.release_due_payables(now=after_hold(order))
    assert payouts.create_payouts(now=after_hold(order)) == []
    assert _balances(shop)["withdrawable"] == 4_500


@pytest.mark.django_db
def test_no_payout_without_a_connected_account_or_while_held(shop, other_shop, admin_user):
    for s in (shop, other_shop):
        order = delivered(s, 10_000)
    payouts.release_due_payables(now=after_hold(order))
    PayoutAccountFactory(shop=other_shop)
    payouts.hold_payouts(shop=other_shop, by=admin_user, reason="Chargeback review")

    # shop: no account; other: held
    assert payouts.create_payouts(now=after_hold(order)) == []

    payouts.release_payouts(shop=other_shop, by=admin_user, reason="Review done")
    (payout,) = payouts.create_payouts(now=after_hold(order))
    assert payout.shop == other_shop


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_payout_runs_at_once_reserve_the_money_once(shop):
    PayoutAccountFactory(shop=shop)
    order = delivered(shop, 10_000)
    payouts.release_due_payables(now=after_hold(order))
    barrier = threading.Barrier(2)

    def run():
        try:
            barrier.wait()
            return payouts.create_payouts(now=after_hold(order))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert list(Payout.objects.filter(shop=shop).values_list("amount", flat=True)) == [9_000]
    assert _balances(shop)["withdrawable"] == 0


# --- sending exactly once --------------------------------------------------------------------


@pytest.mark.django_db
def test_send_builds_the_real_stripe_transfer_request(fake_connect, shop):
    payout = _ready_payout(shop)

    payouts.send_payout(payout_id=payout.pk)

    (req,) = fake_connect.transfer_requests()
    assert (req.method, req.path) == ("POST", "/v1/transfers")
    assert req.form["amount"] == "9000"
    assert req.form["currency"] == "usd"
    assert req.form["destination"] == "acct_1TestSeller00"
    assert req.form["metadata[payout_id]"] == str(payout.pk)
    assert req.headers["idempotency-key"] == f"payout-{payout.pk}"
    assert req.headers["authorization"] == f"Bearer {SECRET_KEY}"
    payout.refresh_from_db()
    assert payout.status == "paid"
    assert payout.sent_at is not None
    assert payout.stripe_transfer_id in fake_connect.transfers
    assert _balances(shop)["in_transit"] == 0
    assert _paid_out() == 9_000


@pytest.mark.django_db
def test_sending_twice_in_a_row_transfers_once(fake_connect, shop):
    payout = _ready_payout(shop)
    payouts.send_payout(payout_id=payout.pk)
    payouts.send_payout(payout_id=payout.pk)
    send_payout_task.apply(args=[payout.pk])

    assert len(fake_connect.transfer_requests()) == 1
    assert len(fake_connect.transfers) == 1
    assert _sent_postings(payout) == 1
    assert _paid_out() == 9_000


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_the_same_payout_at_once_transfer_once(fake_connect, shop):
    payout = _ready_payout(shop)
    barrier = threading.Barrier(2)
    results = []

    def send():
        try:
            barrier.wait()
            results.append(payouts.send_payout(payout_id=payout.pk).status)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert results == ["paid", "paid"]
    assert len(fake_connect.transfer_requests()) == 1  # the second waited, then saw it paid
    assert _sent_postings(payout) == 1
    assert _paid_out() == 9_000


@pytest.mark.postgres
@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_worker_killed_after_the_transfer_and_before_the_commit_pays_once(fake_connect, shop):
    payout = _ready_payout(shop)

    crashed = subprocess.run(
        [sys.executable, "-m", "orders.tests.kill_after_transfer", str(payout.pk)],
        env=child_env(STRIPE_API_BASE=fake_connect.url, STRIPE_SECRET_KEY=SECRET_KEY),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert crashed.returncode == -9, crashed.stdout + crashed.stderr
    assert "killing myself before the commit" in crashed.stdout
    payout.refresh_from_db()
    assert (payout.status, payout.stripe_transfer_id) == ("pending", None)  # never committed
    assert len(fake_connect.transfers) == 1  # ...but Stripe did make the transfer

    payouts.send_payout(payout_id=payout.pk)  # the retry after the crash

    first, again = fake_connect.transfer_requests()
    assert first.headers["idempotency-key"] == again.headers["idempotency-key"]
    assert again.replayed
    (transfer_id,) = fake_connect.transfers
    payout.refresh_from_db()
    assert (payout.status, payout.stripe_transfer_id) == ("paid", transfer_id)
    assert _sent_postings(payout) == 1
    assert _paid_out() == 9_000


@pytest.mark.postgres
@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_delivered_order_is_paid_out_once_by_the_real_worker(
    fake_connect, shop, monkeypatch, request
):
    # The worker process reads Stripe's address from its environment.
    monkeypatch.setenv("STRIPE_API_BASE", fake_connect.url)
    monkeypatch.setenv("STRIPE_SECRET_KEY", SECRET_KEY)
    worker = request.getfixturevalue("celery_worker")
    PayoutAccountFactory(shop=shop)
    order = delivered(shop, 10_000)

    assert payouts.release_due_payables(now=order.delivered_at + timedelta(days=6)) == []
    assert payouts.release_due_payables(now=order.delivered_at + timedelta(days=8)) == [order.pk]
    create_payouts_task.delay()  # the worker gathers the payout and queues its send
    payout = wait_until(lambda: Payout.objects.filter(shop=shop, status="paid").first())
    for _ in range(2):  # a redelivered message, a staff retry: both must be no-ops
        send_payout_task.delay(payout.pk)
    wait_until(lambda: worker.tasks_succeeded("send_payout_task") == 3)

    assert len(fake_connect.transfer_requests()) == 1
    assert payout.stripe_transfer_id in fake_connect.transfers
    assert _sent_postings(payout) == 1
    assert _paid_out() == 9_000
    assert _balances(shop) == {"pending": 0, "withdrawable": 0, "in_transit": 0, "balance": 0}


# --- failures --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_refused_transfer_is_retried_then_failed_and_the_money_is_withdrawable_again(
    fake_connect, shop, settings, django_capture_on_commit_callbacks
):
    settings.PAYOUT_MAX_ATTEMPTS = 3
    settings.ADMINS = [("Ops", "ops@example.com")]
    payout = _ready_payout(shop)
    fake_connect.refuse_destinations.add(payout.destination)

    for attempt in (1, 2):
        with pytest.raises(PaymentError):
            payouts.send_payout(payout_id=payout.pk)
        payout.refresh_from_db()
        assert (payout.status, payout.attempts) == ("sending", attempt)
        assert _balances(shop)["in_transit"] == 9_000
    with django_capture_on_commit_callbacks(execute=True):
        payouts.send_payout(payout_id=payout.pk)  # the last attempt gives up without raising

    payout.refresh_from_db()
    assert (payout.status, payout.attempts) == ("failed", 3)
    assert "No such destination" in payout.last_error
    assert _balances(shop) == {
        "pending": 0,
        "withdrawable": 9_000,
        "in_transit": 0,
        "balance": 9_000,
    }
    assert fake_connect.transfers == {}
    assert [m.subject for m in mail.outbox][-1].endswith(
        f"Payout {payout.pk} failed; its money is withdrawable again"
    )
    assert payouts.send_payout(payout_id=payout.pk).status == "failed"  # a late retry: no-op
    assert len(fake_connect.transfer_requests()) == 3


@pytest.mark.django_db
def test_the_task_retries_with_backoff_and_stops_after_the_limit(fake_connect, shop, settings):
    settings.PAYOUT_MAX_ATTEMPTS = 3
    payout = _ready_payout(shop)
    fake_connect.refuse_destinations.add(payout.destination)

    from shopfeed.celery import app

    old = app.conf.task_eager_propagates
    app.conf.update(task_eager_propagates=False)  # let eager retries chain like a worker's
    try:
        result = send_payout_task.apply(args=[payout.pk])  # the retries run inline
    finally:
        app.conf.update(task_eager_propagates=old)

    assert result.get() == "failed"

    payout.refresh_from_db()
    assert (payout.status, payout.attempts) == ("failed", 3)
    assert send_payout_task.acks_late
    assert send_payout_task.retry_backoff


@pytest.mark.django_db
def test_lost_answer_keeps_the_money_in_transit_and_the_resend_gets_the_same_transfer(
    fake_connect, shop, settings
):
    settings.PAYOUT_MAX_ATTEMPTS = 1
    payout = _ready_payout(shop)
    fake_connect.lose_responses = 3  # Stripe makes the transfer; no answer ever reaches us

    with pytest.raises(PaymentError):
        payouts.send_payout(payout_id=payout.pk)

    payout.refresh_from_db()
    # Out of attempts, but the transfer may exist: not returned, not failed.
    assert payout.status == "sending"
    assert "may exist" in payout.last_error
    assert _balances(shop)["in_transit"] == 9_000
    (transfer_id,) = fake_connect.transfers

    payouts.send_payout(payout_id=payout.pk)

    payout.refresh_from_db()
    assert (payout.status, payout.stripe_transfer_id) == ("paid", transfer_id)
    assert len(fake_connect.transfers) == 1
    assert _paid_out() == 9_000


# --- holds -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_hold_stops_a_waiting_payout_until_released(fake_connect, shop, admin_user):
    payout = _ready_payout(shop)
    payouts.hold_payouts(shop=shop, by=admin_user, reason="Unusual refunds")

    assert payouts.send_payout(payout_id=payout.pk).status == "pending"
    assert fake_connect.requests == []
    assert payouts.payouts_to_send(now=timezone.now()) == []

    payouts.release_payouts(shop=shop, by=admin_user, reason="Checked")
    assert payouts.send_payout(payout_id=payout.pk).status == "paid"


@pytest.mark.django_db
def test_only_staff_can_hold_payouts_and_only_with_a_reason(shop, admin_user):
    with pytest.raises(NotAllowed):
        payouts.hold_payouts(shop=shop, by=shop.owner, reason="I want to")
    with pytest.raises(ShopFeedError, match="Say why"):
        payouts.hold_payouts(shop=shop, by=admin_user, reason="  ")
    with pytest.raises(NotAllowed):
        payouts.release_payouts(shop=shop, by=shop.owner, reason="Let me out")
    assert not PayoutAccount.objects.filter(shop=shop, payouts_held=True).exists()


# --- the seller's page -----------------------------------------------------------------------


@pytest.mark.django_db
def test_seller_sees_balance_pending_withdrawable_in_transit_and_history(
    client, fake_connect, shop
):
    payout = _ready_payout(shop)  # 9,000 paid out below
    payout = payouts.send_payout(payout_id=payout.pk)
    small = delivered(shop, 3_000)
    delivered(shop, 20_000)  # delivered after `small`: its hold ends later, 18,000 pending
    payouts.release_due_payables(now=small.release_at)  # 2,700 withdrawable
    client.force_login(shop.owner)

    body = client.get(reverse("orders:payouts")).content.decode()

    assert 'data-figure="balance">$207.00<' in body
    assert 'data-figure="pending">$180.00<' in body
    assert 'data-figure="withdrawable">$27.00<' in body
    assert 'data-figure="in-transit">$0.00<' in body
    assert 'data-figure="paid-out">$90.00<' in body
    assert f"#{payout.pk}" in body
    assert payout.stripe_transfer_id in body


@pytest.mark.django_db
def test_the_page_shows_only_the_signed_in_sellers_own_money(client, shop, other_shop):
    PayoutAccountFactory(shop=shop, stripe_account_id="acct_1MineSeller")
    PayoutAccountFactory(shop=other_shop, stripe_account_id="acct_1OtherSeller")
    client.force_login(shop.owner)
    body = client.get(reverse("orders:payouts")).content.decode()
    assert "acct_1MineSeller" in body
    assert "acct_1OtherSeller" not in body

    assert client.get(reverse("orders:payouts")).status_code == 200
    client.logout()
    assert client.get(reverse("orders:payouts")).status_code == 302  # to the login page
    client.force_login(UserFactory())  # no shop: sent to open one
    assert client.get(reverse("orders:payouts"))["Location"] == reverse("shops:dashboard")


@pytest.mark.django_db
def test_seller_sets_their_connected_account(client, shop):
    client.force_login(shop.owner)
    resp = client.post(reverse("orders:payouts-account"), {"stripe_account_id": " acct_1Nv0FGQ9 "})
    assert resp.status_code == 302
    assert PayoutAccount.objects.get(shop=shop).stripe_account_id == "acct_1Nv0FGQ9"


@pytest.mark.django_db
def test_a_malformed_account_id_is_refused_and_nothing_is_saved(client, shop):
    PayoutAccountFactory(shop=shop, stripe_account_id="acct_1Original")
    client.force_login(shop.owner)
    resp = client.post(reverse("orders:payouts-account"), {"stripe_account_id": "ba_123; drop"})
    assert resp.status_code == 400
    assert "starts with acct_" in resp.content.decode()
    assert PayoutAccount.objects.get(shop=shop).stripe_account_id == "acct_1Original"


# --- staff admin -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_hold_asks_for_a_reason_then_holds(admin_client, shop):
    acct = PayoutAccountFactory(shop=shop)
    url = reverse("admin:orders_payoutaccount_changelist")
    form = {"action": "hold", "_selected_action": [acct.pk]}

    asked = admin_client.post(url, form)
    assert "Reason (shown to the seller)" in asked.content.decode()
    admin_client.post(url, {**form, "apply": "1", "reason": "Chargeback review"})

    acct.refresh_from_db()
    assert (acct.payouts_held, acct.hold_reason) == (True, "Chargeback review")


@pytest.mark.django_db
def test_failed_payouts_show_their_last_error_in_the_admin(
    admin_client, fake_connect, shop, settings
):
    settings.PAYOUT_MAX_ATTEMPTS = 1
    payout = _ready_payout(shop)
    fake_connect.refuse_destinations.add(payout.destination)
    payouts.send_payout(payout_id=payout.pk)

    url = reverse("admin:orders_payout_changelist")
    body = admin_client.get(url, {"status__exact": "failed"}).content.decode()

    assert f">{payout.pk}<" in body
    assert "No such destination" in body


@pytest.fixture
def eager(django_capture_on_commit_callbacks):
    """`with eager():` runs the tasks queued on commit inline when the block ends."""
    from shopfeed.celery import app

    old = app.conf.task_always_eager
    app.conf.update(task_always_eager=True)
    yield lambda: django_capture_on_commit_callbacks(execute=True)
    app.conf.update(task_always_eager=old)


@pytest.mark.django_db
def test_retry_sending_in_the_admin_sends_a_waiting_payout(admin_client, fake_connect, shop, eager):
    payout = _ready_payout(shop)

    with eager():
        admin_client.post(
            reverse("admin:orders_payout_changelist"),
            {"action": "retry_sending", "_selected_action": [payout.pk]},
        )

    payout.refresh_from_db()
    assert payout.status == "paid"
    assert len(fake_connect.transfer_requests()) == 1


@pytest.mark.django_db
def test_retry_of_a_failed_payout_sends_its_money_in_a_new_payout_to_the_fixed_account(
    admin_client, fake_connect, shop, settings, eager
):
    settings.PAYOUT_MAX_ATTEMPTS = 1
    failed = _ready_payout(shop)
    fake_connect.refuse_destinations.add(failed.destination)
    payouts.send_payout(payout_id=failed.pk)
    PayoutAccountFactory(shop=shop, stripe_account_id="acct_1FixedAccount")  # corrected

    with eager():
        resp = admin_client.post(
            reverse("admin:orders_payout_changelist"),
            {"action": "retry_sending", "_selected_action": [failed.pk]},
            follow=True,
        )

    new = Payout.objects.exclude(pk=failed.pk).get(shop=shop)
    assert f"its money goes out in new payout #{new.pk}" in resp.content.decode()
    assert (new.status, new.amount, new.destination) == ("paid", 9_000, "acct_1FixedAccount")
    assert fake_connect.transfer_requests()[-1].headers["idempotency-key"] == f"payout-{new.pk}"
    assert _paid_out() == 9_000
