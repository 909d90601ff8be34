"""Shared helpers for the payout and ledger tests: paid orders, deliveries, refunds, and the
fake Connect server fixture (import the fixture into a test module to use it)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orders.checkout.services import platform_fee
from orders.ledger import accounting
from orders.models import Checkout, Order, PayoutAccount, Refund
from shopfeed.accounts.tests.factories import UserFactory

from .fake_connect import FakeConnect

SECRET_KEY = "sk_test_payouts"


@pytest.fixture
def fake_connect(settings):
    """The real stripe SDK pointed at a Stripe-compatible transfers server on loopback."""
    fake = FakeConnect()
    settings.STRIPE_API_BASE = fake.start()
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    yield fake
    fake.stop()


def paid_order(shop, *, total: int, buyer=None, at=None) -> Order:
    """An order paid in full, with its sale posted to the ledger as the payment webhook does."""
    at = at or timezone.now()
    buyer = buyer or UserFactory()
    checkout = Checkout.objects.create(
        buyer=buyer,
        status=Checkout.Status.PAID,
        total_amount=total,
        currency=shop.currency,
        expires_at=at + timedelta(minutes=15),
        amount_received=total,
        paid_at=at,
    )
    order = Order.objects.create(
        checkout=checkout,
        shop=shop,
        buyer=buyer,
        status=Order.Status.PAID,
        currency=shop.currency,
        subtotal_amount=total,
        total_amount=total,
        fee_amount=platform_fee(total),
        paid_at=at,
    )
    accounting.post_sale(order)
    return order


def deliver(order: Order, *, at) -> Order:
    """Delivered at `at`; its payable is withdrawable PAYOUT_HOLD_DAYS later."""
    order.status = Order.Status.DELIVERED
    order.shipped_at = order.shipped_at or at
    order.delivered_at = at
    order.release_at = at + timedelta(days=settings.PAYOUT_HOLD_DAYS)
    order.save(update_fields=["status", "shipped_at", "delivered_at", "release_at"])
    return order


@transaction.atomic
def refund(order: Order, amount: int) -> Refund:
    """A succeeded partial refund, posted the way the refund service does (under the lock)."""
    order = Order.objects.select_for_update().get(pk=order.pk)
    before = order.refunded_amount
    r = Refund.objects.create(
        order=order,
        amount=amount,
        currency=order.currency,
        status=Refund.Status.SUCCEEDED,
        idempotency_key=f"refund-test-{order.pk}-{before}",
    )
    order.refunded_amount = before + amount
    order.save(update_fields=["refunded_amount"])
    accounting.post_refund(r, refunded_before=before)
    return r


def connect(shop, account_id: str = "acct_1TestSeller00") -> PayoutAccount:
    acct, _ = PayoutAccount.objects.update_or_create(
        shop=shop, defaults={"stripe_account_id": account_id}
    )
    return acct
