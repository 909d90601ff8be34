"""The whole order story in one test, on real processes: localstripe (payments, webhooks) behind
the Connect stand-in (transfers), a live server taking the webhook, a Celery worker over Redis,
PostgreSQL. checkout -> payment -> webhook -> paid -> shipped -> delivered -> hold passes ->
payout sent exactly once, even when the send task runs three times."""

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db.models import Sum

from orders.checkout.services import platform_fee
from orders.fulfilment import services as fulfilment
from orders.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from orders.models import Checkout, Order, Payout
from orders.payments import intents
from orders.payouts import services as payouts
from orders.payouts.tasks import create_payouts_task, send_payout_task
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.testing import wait_until
from shops.models import Variant
from shops.tests.factories import ProductFactory, VariantFactory

from .factories import CheckoutFactory
from .payment_helpers import pay

Kind = LedgerAccount.Kind
SELLER_ACCOUNT = "acct_1WholeFlowSeller"


@pytest.fixture
def stripe_stand_in(fake_connect, stripe_env):
    """One Stripe address for this process and the worker (ask for it before `worker`):
    /v1/transfers answered by the Connect stand-in, every other path (PaymentIntents, webhook
    config) by localstripe. stripe_env copies the stand-in's address to the environment the
    worker starts with."""
    return fake_connect


def _balance(kind, shop=None) -> int:
    acct = LedgerAccount.objects.filter(kind=kind, currency="USD", shop=shop).first()
    return acct.balance_amount if acct else 0


@pytest.mark.postgres
@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_paid_shipped_delivered_order_is_paid_out_exactly_once_after_the_hold(
    stripe_stand_in, worker, stripe_webhooks_to, shop
):
    seller = shop.owner
    payouts.set_payout_destination(shop=shop, by=seller, stripe_account_id=SELLER_ACCOUNT)
    variant = VariantFactory(product=ProductFactory(shop=shop), quantity=3, price_amount=4200)
    total, fee = 8400, platform_fee(8400)

    # The buyer checks out and pays at "Stripe"; localstripe posts the webhook to the live
    # server, which stores it; the worker settles the checkout.
    checkout = CheckoutFactory(buyer=UserFactory(), variant=variant, quantity=2)
    checkout = intents.ensure_payment_intent(checkout=checkout)
    pay(checkout.payment_intent_id)
    order = wait_until(
        lambda: Order.objects.filter(checkout=checkout, status=Order.Status.PAID).first(),
        timeout=15,
    )
    checkout.refresh_from_db()
    assert (checkout.status, checkout.amount_received) == (Checkout.Status.PAID, total)
    assert "process_stripe_event_task" in worker.output()
    assert Variant.objects.get(pk=variant.pk).quantity == 1
    assert (order.total_amount, order.fee_amount) == (total, fee)

    # The seller ships and marks it delivered; the payable is held until the hold passes.
    fulfilment.ship_order(order=order, by=seller, carrier="UPS", tracking_number="1Z999AA1")
    order = fulfilment.mark_delivered(order=order, by=seller)
    hold = timedelta(days=settings.PAYOUT_HOLD_DAYS)
    assert payouts.release_due_payables(now=order.delivered_at + hold - timedelta(hours=1)) == []
    assert _balance(Kind.SELLER_PAYABLE, shop) == total - fee
    assert payouts.release_due_payables(now=order.delivered_at + hold + timedelta(days=1)) == [
        order.pk
    ]

    # The worker gathers the payout and sends it; two more sends (a redelivered message, a
    # staff retry) must change nothing.
    create_payouts_task.delay()
    payout = wait_until(
        lambda: Payout.objects.filter(shop=shop, status=Payout.Status.PAID).first(), timeout=15
    )
    for _ in range(2):
        send_payout_task.delay(payout.pk)
    wait_until(lambda: worker.tasks_succeeded("send_payout_task") == 3, timeout=15)
    time.sleep(0.3)  # room for a wrong fourth send or a late second transfer to show

    (transfer,) = stripe_stand_in.transfer_requests()
    assert transfer.headers["idempotency-key"] == f"payout-{payout.pk}"
    assert transfer.form["amount"] == str(total - fee)
    assert transfer.form["currency"] == "usd"
    assert transfer.form["destination"] == SELLER_ACCOUNT
    assert worker.tasks_succeeded("send_payout_task") == 3
    payout.refresh_from_db()
    assert (payout.status, payout.amount, payout.attempts) == (Payout.Status.PAID, total - fee, 0)
    assert payout.stripe_transfer_id in stripe_stand_in.transfers

    assert _balance(Kind.BUYER_CLEARING) == -total
    assert _balance(Kind.PLATFORM_REVENUE) == fee
    assert _balance(Kind.PAID_OUT) == total - fee
    for kind in (Kind.SELLER_PAYABLE, Kind.SELLER_AVAILABLE, Kind.PAYOUTS_IN_TRANSIT):
        assert _balance(kind, shop) == 0, kind
    references = list(LedgerTransaction.objects.values_list("reference", flat=True))
    assert references == [
        f"sale:order:{order.pk}",
        f"release:order:{order.pk}",
        f"payout:{payout.pk}:reserve",
        f"payout:{payout.pk}:sent",
    ]
    unbalanced = (
        LedgerEntry.objects.values("transaction__reference")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
        .order_by()
    )
    assert list(unbalanced) == []
