"""Payments against a real localstripe: the PaymentIntent, settling, expiry, late payments,
reconciliation. Stripe is never mocked."""

import urllib.error
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from orders import gateway
from orders.errors import IllegalTransition
from orders.ledger.models import LedgerAccount, LedgerTransaction
from orders.models import Checkout, Order, OrderEvent, Refund
from orders.payments import intents, reconcile, settlement
from orders.payments.refunds import REFUNDED, record_refund_event
from shopfeed.accounts.tests.factories import UserFactory
from shops.models import Variant
from shops.tests.factories import VariantFactory

from .factories import CheckoutFactory
from .payment_helpers import create_payment_intent, pay, refunds_of

pytestmark = pytest.mark.django_db

Kind = LedgerAccount.Kind


def _balance(kind, shop=None, currency="USD") -> int:
    acct = LedgerAccount.objects.filter(kind=kind, currency=currency, shop=shop).first()
    return acct.balance_amount if acct else 0


def _stock(variant) -> int:
    return Variant.objects.get(pk=variant.pk).quantity


def _expire(checkout):
    Checkout.objects.filter(pk=checkout.pk).update(expires_at=timezone.now() - timedelta(minutes=1))


@pytest.fixture
def variant(db):
    return VariantFactory(quantity=5, price_amount=2500)


@pytest.fixture
def buyer(db):
    return UserFactory(email="buyer@example.com")


# --- the PaymentIntent -------------------------------------------------------------------------


def test_payment_intent_is_made_once_for_the_checkout_total_with_its_id_in_metadata(
    localstripe, buyer, variant
):
    checkout = CheckoutFactory(buyer=buyer, variant=variant, quantity=2)

    first = intents.ensure_payment_intent(checkout=checkout)
    again = intents.ensure_payment_intent(checkout=Checkout.objects.get(pk=checkout.pk))

    assert first.payment_intent_id
    assert first.payment_intent_id == again.payment_intent_id
    assert first.client_secret.startswith(first.payment_intent_id)
    pi = gateway.retrieve_payment_intent(first.payment_intent_id)
    assert (pi.amount, pi.currency) == (5000, "USD")
    assert pi.metadata == {"checkout_id": str(checkout.pk)}


def test_no_payment_intent_for_a_checkout_that_has_expired(localstripe, buyer, variant):
    checkout = CheckoutFactory(buyer=buyer, variant=variant)
    _expire(checkout)
    reconcile.release_expired_checkouts()

    with pytest.raises(IllegalTransition):
        intents.ensure_payment_intent(checkout=checkout)
    assert Checkout.objects.get(pk=checkout.pk).payment_intent_id is None


# --- settling ----------------------------------------------------------------------------------


def test_a_paid_checkout_marks_every_order_paid_and_posts_each_sale(
    localstripe, buyer, variant, django_capture_on_commit_callbacks
):
    other = VariantFactory(quantity=3, price_amount=1000)  # another shop
    checkout = intents.ensure_payment_intent(
        checkout=CheckoutFactory(buyer=buyer, variants=[variant, other])
    )
    pay(checkout.payment_intent_id)

    with django_capture_on_commit_callbacks(execute=True):
        settlement.settle(payment_intent_id=checkout.payment_intent_id)

    checkout.refresh_from_db()
    assert checkout.status == Checkout.Status.PAID
    assert checkout.amount_received == 3500
    assert checkout.paid_at
    orders = list(checkout.orders.order_by("total_amount"))
    assert [(o.status, o.total_amount, o.fee_amount) for o in orders] == [
        (Order.Status.PAID, 1000, 100),
        (Order.Status.PAID, 2500, 250),
    ]
    assert all(o.paid_at and o.events.filter(kind="paid").exists() for o in orders)
    assert _balance(Kind.BUYER_CLEARING) == -3500
    assert _balance(Kind.SELLER_PAYABLE, variant.shop) == 2250
    assert _balance(Kind.SELLER_PAYABLE, other.shop) == 900
    assert _balance(Kind.PLATFORM_REVENUE) == 350
    variant.product.refresh_from_db()
    assert variant.product.sold_count == 1
    assert (_stock(variant), _stock(other)) == (4, 2)  # taken at checkout, not again


def test_the_buyer_is_emailed_once_when_the_payment_is_settled(
    localstripe, buyer, variant, django_capture_on_commit_callbacks
):
    checkout = intents.ensure_payment_intent(checkout=CheckoutFactory(buyer=buyer, variant=variant))
    pay(checkout.payment_intent_id)

    with django_capture_on_commit_callbacks(execute=True):
        settlement.settle(checkout_id=checkout.pk)
    with django_capture_on_commit_callbacks(execute=True):
        settlement.settle(checkout_id=checkout.pk)

    to_buyer = [m for m in mail.outbox if m.to == ["buyer@example.com"]]
    assert len(to_buyer) == 1
    assert variant.shop.name in to_buyer[0].subject
    assert "confirmed" in to_buyer[0].subject
    assert "$25.00" in to_buyer[0].body
    assert variant.product.title in to_buyer[0].body
    assert [m.to for m in mail.outbox if m not in to_buyer] == [[variant.shop.owner.email]]


def test_settling_twice_changes_nothing(localstripe, buyer, variant):
    checkout = intents.ensure_payment_intent(checkout=CheckoutFactory(buyer=buyer, variant=variant))
    pay(checkout.payment_intent_id)
    settlement.settle(checkout_id=checkout.pk)
    counts = (LedgerTransaction.objects.count(), OrderEvent.objects.count())

    settlement.settle(checkout_id=checkout.pk)
    settlement.settle(payment_intent_id=checkout.payment_intent_id)

    assert (LedgerTransaction.objects.count(), OrderEvent.objects.count()) == counts
    assert _balance(Kind.BUYER_CLEARING) == -2500
    variant.product.refresh_from_db()
    assert variant.product.sold_count == 1


def test_an_unpaid_payment_intent_settles_nothing(localstripe, buyer, variant):
    checkout = intents.ensure_payment_intent(checkout=CheckoutFactory(buyer=buyer, variant=variant))

    settlement.settle(checkout_id=checkout.pk)

    checkout.refresh_from_db()
    assert checkout.status == Checkout.Status.OPEN
    assert not LedgerTransaction.objects.exists()
    assert checkout.orders.get().status == Order.Status.PENDING_PAYMENT


def test_a_payment_we_never_stored_is_found_by_its_metadata_and_stored(localstripe, buyer, variant):
    checkout = CheckoutFactory(buyer=buyer, variant=variant)
    pi = create_payment_intent(amount=2500, currency="USD", checkout_id=checkout.pk)
    pay(pi["id"])

    settlement.settle(payment_intent_id=pi["id"])

    checkout.refresh_from_db()
    assert checkout.status == Checkout.Status.PAID
    assert checkout.payment_intent_id == pi["id"]


def test_a_payment_intent_of_someone_else_is_ignored(localstripe, buyer, variant):
    pi = create_payment_intent(amount=2500, currency="USD", checkout_id=0)
    pay(pi["id"])

    assert settlement.settle(payment_intent_id=pi["id"]) is None
    assert not LedgerTransaction.objects.exists()


# --- failures ----------------------------------------------------------------------------------


def test_a_declined_payment_keeps_the_stock_for_another_card(localstripe, buyer, variant):
    # Stripe leaves the PaymentIntent in requires_payment_method: the buyer may try again
    # until the reservation expires (test_payment_retry.py pays it with another card).
    checkout = intents.ensure_payment_intent(
        checkout=CheckoutFactory(buyer=buyer, variant=variant, quantity=2)
    )
    assert _stock(variant) == 3
    with pytest.raises(urllib.error.HTTPError):
        pay(checkout.payment_intent_id, card="4000000000000341")

    settlement.payment_failed(payment_intent_id=checkout.payment_intent_id)

    checkout.refresh_from_db()
    assert checkout.status == Checkout.Status.OPEN
    assert checkout.orders.get().status == Order.Status.PENDING_PAYMENT
    assert _stock(variant) == 3


def test_a_failure_report_for_a_payment_that_succeeded_settles_it_instead(
    localstripe, buyer, variant
):
    checkout = intents.ensure_payment_intent(checkout=CheckoutFactory(buyer=buyer, variant=variant))
    pay(checkout.payment_intent_id)

    settlement.payment_failed(payment_intent_id=checkout.payment_intent_id)

    checkout.refresh_from_db()
    assert checkout.status == Checkout.Status.PAID
    assert _stock(variant) == 4


# --- expiry ------------------------------------------------------------------------------------


def test_expiry_releases_an_unpaid_checkout_and_cancels_its_payment_intent(
    localstripe, buyer, variant
):
    checkout = intents.ensure_payment_intent(
        checkout=CheckoutFactory(buyer=buyer, variant=variant, quantity=2)
    )
    _expire(checkout)

    assert reconcile.release_expired_checkouts() == 1

    checkout.refresh_from_db()
    assert checkout.status == Checkout.Status.EXPIRED
    assert checkout.orders.get().status == Order.Status.CANCELLED
    assert _stock(variant) == 5
    assert gateway.retrieve_payment_intent(checkout.payment_intent_id).status == "canceled"
    assert reconcile.release_expired_checkouts() == 0
    assert _stock(variant) == 5  # not given back twice


def test_a_checkout_still_within_its_time_is_not_released(localstripe, buyer, variant):
    checkout = intents.ensure_payment_intent(checkout=CheckoutFactory(buyer=buyer, variant=variant))

    assert reconcile.release_expired_checkouts() == 0

    assert Checkout.objects.get(pk=checkout.pk).status == Checkout.Status.OPEN
    assert _stock(variant) == 4


def test_expiry_settles_a_checkout_whose_payment_succeeded(localstripe, buyer, variant):
    checkout = intents.ensure_payment_intent(checkout=CheckoutFactory(buyer=buyer, variant=variant))
    pay(checkout.payment_intent_id)
    _expire(checkout)

    assert reconcile.release_expired_checkouts() == 0

    checkout.refresh_from_db()
    assert checkout.status == Checkout.Status.PAID
    assert _stock(variant) == 4


def test_a_payment_after_expiry_takes_the_stock_again_when_it_is_there(localstripe, buyer, variant):
    checkout = CheckoutFactory(buyer=buyer, variant=variant, quantity=2)
    pi = create_payment_intent(amount=5000, currency="USD", checkout_id=checkout.pk)
    _expire(checkout)
    reconcile.release_expired_checkouts()
    assert _stock(variant) == 5

    pay(pi["id"])
    settlement.settle(payment_intent_id=pi["id"])

    checkout.refresh_from_db()
    assert checkout.status == Checkout.Status.PAID
    order = checkout.orders.get()
    assert order.status == Order.Status.PAID
    assert order.cancelled_at is None
    assert _stock(variant) == 3
    assert _balance(Kind.BUYER_CLEARING) == -5000
    assert refunds_of(pi["id"]) == []


def test_a_payment_after_expiry_is_refunded_when_the_stock_has_sold(
    localstripe, buyer, django_capture_on_commit_callbacks
):
    variant = VariantFactory(quantity=1, price_amount=2500)
    late = CheckoutFactory(buyer=buyer, variant=variant)
    pi = create_payment_intent(amount=2500, currency="USD", checkout_id=late.pk)
    _expire(late)
    reconcile.release_expired_checkouts()
    winner = CheckoutFactory(buyer=UserFactory(), variant=variant)  # the unit goes to someone else
    pay(pi["id"])

    with django_capture_on_commit_callbacks(execute=True):
        settlement.settle(payment_intent_id=pi["id"])
    with django_capture_on_commit_callbacks(execute=True):
        settlement.settle(payment_intent_id=pi["id"])  # a replay refunds nothing more

    late.refresh_from_db()
    assert late.status == Checkout.Status.EXPIRED
    assert late.orders.get().status == Order.Status.CANCELLED
    refunds = refunds_of(pi["id"])
    assert [(r["amount"], r["status"]) for r in refunds] == [(2500, "succeeded")]
    event = late.orders.get().events.get(kind=REFUNDED)
    assert event.data["stripe_refund_id"] == refunds[0]["id"]
    assert _stock(variant) == 0
    assert Checkout.objects.get(pk=winner.pk).status == Checkout.Status.OPEN
    assert not LedgerTransaction.objects.exists()  # no sale was ever booked


def test_a_refund_that_failed_to_send_is_sent_by_reconciliation(localstripe, buyer):
    variant = VariantFactory(quantity=1, price_amount=2500)
    late = CheckoutFactory(buyer=buyer, variant=variant)
    pi = create_payment_intent(amount=2500, currency="USD", checkout_id=late.pk)
    _expire(late)
    reconcile.release_expired_checkouts()
    CheckoutFactory(buyer=UserFactory(), variant=variant)
    pay(pi["id"])
    settlement.settle(payment_intent_id=pi["id"])  # on_commit never ran: decided, not sent
    assert refunds_of(pi["id"]) == []

    reconcile.reconcile_payments()

    assert [r["amount"] for r in refunds_of(pi["id"])] == [2500]
    reconcile.reconcile_payments()
    assert len(refunds_of(pi["id"])) == 1


# --- reconciliation ----------------------------------------------------------------------------


def test_reconciliation_settles_a_paid_checkout_whose_webhook_was_lost(
    localstripe, buyer, variant, settings
):
    settings.RECONCILE_AFTER_MINUTES = 10
    checkout = intents.ensure_payment_intent(checkout=CheckoutFactory(buyer=buyer, variant=variant))
    pay(checkout.payment_intent_id)
    recent = intents.ensure_payment_intent(
        checkout=CheckoutFactory(buyer=UserFactory(), variant=variant)
    )
    pay(recent.payment_intent_id)
    Checkout.objects.filter(pk=checkout.pk).update(
        created_at=timezone.now() - timedelta(minutes=11)
    )

    assert reconcile.reconcile_payments() == 1

    assert Checkout.objects.get(pk=checkout.pk).status == Checkout.Status.PAID
    assert Checkout.objects.get(pk=recent.pk).status == Checkout.Status.OPEN  # not yet asked
    assert _balance(Kind.BUYER_CLEARING) == -2500


def test_reconciliation_leaves_an_unpaid_checkout_open(localstripe, buyer, variant):
    checkout = intents.ensure_payment_intent(checkout=CheckoutFactory(buyer=buyer, variant=variant))
    Checkout.objects.filter(pk=checkout.pk).update(
        created_at=timezone.now() - timedelta(minutes=60)
    )

    assert reconcile.reconcile_payments() == 0

    assert Checkout.objects.get(pk=checkout.pk).status == Checkout.Status.OPEN
    assert _stock(variant) == 4


# --- refunds reported by Stripe ----------------------------------------------------------------


def _refund_row(buyer, variant, **kw):
    checkout = CheckoutFactory(buyer=buyer, variant=variant)
    order = checkout.orders.get()
    return Refund.objects.create(
        order=order, amount=500, currency="USD", idempotency_key=f"refund-t{order.pk}", **kw
    )


def test_a_refund_update_is_recorded_on_our_refund_row(buyer, variant):
    refund = _refund_row(buyer, variant, stripe_refund_id="re_123")

    record_refund_event(
        {"data": {"object": {"object": "refund", "id": "re_123", "status": "succeeded"}}}
    )

    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED


def test_a_charge_refunded_event_records_every_refund_it_lists(buyer, variant):
    refund = _refund_row(buyer, variant, stripe_refund_id="re_456")
    charge = {
        "object": "charge",
        "id": "ch_1",
        "refunds": {"data": [{"id": "re_456", "object": "refund", "status": "failed"}]},
    }

    record_refund_event({"data": {"object": charge}})

    refund.refresh_from_db()
    assert refund.status == Refund.Status.FAILED


def test_a_refund_still_in_flight_is_left_to_the_refund_service(buyer, variant):
    # Stripe's event can beat our own recording of its answer; that recording posts the
    # ledger, so the webhook must not settle the row first.
    refund = _refund_row(buyer, variant)

    record_refund_event(
        {
            "data": {
                "object": {
                    "object": "refund",
                    "id": "re_new",
                    "status": "succeeded",
                    "metadata": {"refund_id": str(refund.pk)},
                }
            }
        }
    )

    refund.refresh_from_db()
    assert (refund.status, refund.stripe_refund_id) == (Refund.Status.PENDING, None)


def test_a_refund_event_we_know_nothing_of_changes_nothing(buyer, variant):
    refund = _refund_row(buyer, variant, stripe_refund_id="re_789")

    record_refund_event(
        {"data": {"object": {"object": "refund", "id": "re_other", "status": "succeeded"}}}
    )

    refund.refresh_from_db()
    assert refund.status == Refund.Status.PENDING
