"""The whole payment flow on real services: localstripe, a live server, a Celery worker over
Redis, PostgreSQL. checkout -> PaymentIntent -> the buyer pays -> localstripe posts the webhook
-> the worker processes it -> paid. (Shipping, delivery and payout extend this flow.)"""

import pytest

from orders.ledger.models import LedgerAccount
from orders.models import Checkout, Order, StripeEvent
from orders.payments import intents
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.testing import wait_until
from shops.models import Variant
from shops.tests.factories import VariantFactory

from .factories import CheckoutFactory
from .payment_helpers import pay

Kind = LedgerAccount.Kind


def _balance(kind, shop=None) -> int:
    acct = LedgerAccount.objects.filter(kind=kind, currency="USD", shop=shop).first()
    return acct.balance_amount if acct else 0


@pytest.mark.postgres
@pytest.mark.services
def test_checkout_payment_webhook_and_worker_end_with_the_order_paid(worker, stripe_webhooks_to):
    variant = VariantFactory(quantity=3, price_amount=4200)
    buyer = UserFactory()
    checkout = CheckoutFactory(buyer=buyer, variant=variant, quantity=2)
    checkout = intents.ensure_payment_intent(checkout=checkout)

    pay(checkout.payment_intent_id)

    def order_paid():
        """the order is paid"""
        return Order.objects.filter(checkout=checkout, status=Order.Status.PAID).first()

    order = wait_until(order_paid, timeout=30)
    checkout.refresh_from_db()
    assert checkout.status == Checkout.Status.PAID
    assert checkout.amount_received == 8400
    event = StripeEvent.objects.get(type="payment_intent.succeeded")
    assert event.processed_at is not None
    assert event.payload["data"]["object"]["id"] == checkout.payment_intent_id
    assert "process_stripe_event_task" in worker.output()
    assert Variant.objects.get(pk=variant.pk).quantity == 1
    assert order.fee_amount == 840
    assert _balance(Kind.BUYER_CLEARING) == -8400
    assert _balance(Kind.SELLER_PAYABLE, variant.shop) == 8400 - 840
    assert _balance(Kind.PLATFORM_REVENUE) == 840
