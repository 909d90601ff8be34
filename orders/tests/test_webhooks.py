"""POST /stripe/webhook/: signature checked, each event stored once, any order of arrival.

The view only stores; `events.process_stripe_event` is what the Celery task runs, called
here directly (test_flow.py runs it on a real worker)."""

import time

import pytest

from orders.ledger.models import LedgerTransaction
from orders.models import Checkout, Order, Refund, StripeEvent
from orders.payments import events, intents
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.testing import localstripe_call
from shops.models import Variant
from shops.tests.factories import VariantFactory

from .factories import CheckoutFactory
from .payment_helpers import create_payment_intent, event_payload, pay, post_webhook, sign

pytestmark = pytest.mark.django_db


@pytest.fixture
def variant(db):
    return VariantFactory(quantity=5, price_amount=2500)


@pytest.fixture
def buyer(db):
    return UserFactory()


def _deliver(client, payload: bytes):
    """Post like Stripe does, then run what the worker would run."""
    response = post_webhook(client, payload, sign(payload))
    assert response.status_code == 200
    for event in StripeEvent.objects.filter(processed_at__isnull=True):
        events.process_stripe_event(event_pk=event.pk)
    return response


def _pi_event(event_type, pi_id, **kw):
    return event_payload(event_type, {"id": pi_id, "object": "payment_intent"}, **kw)


# --- signature ---------------------------------------------------------------------------------


def test_a_forged_signature_is_rejected_and_nothing_is_stored(client):
    payload = _pi_event("payment_intent.succeeded", "pi_forged")

    response = post_webhook(client, payload, sign(payload, secret="whsec_not_ours"))

    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_a_missing_signature_is_rejected_and_nothing_is_stored(client):
    response = post_webhook(client, _pi_event("payment_intent.succeeded", "pi_x"), None)

    assert response.status_code == 400
    assert b"Stripe-Signature" in response.content
    assert not StripeEvent.objects.exists()


def test_a_payload_changed_after_signing_is_rejected(client):
    payload = _pi_event("payment_intent.succeeded", "pi_a")
    signature = sign(payload)

    response = post_webhook(client, payload.replace(b"pi_a", b"pi_b"), signature)

    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_an_old_signed_event_is_rejected(client):
    payload = _pi_event("payment_intent.succeeded", "pi_old")

    response = post_webhook(client, payload, sign(payload, timestamp=int(time.time()) - 3600))

    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_an_event_stamped_in_the_future_is_rejected(client):
    payload = _pi_event("payment_intent.succeeded", "pi_future")

    response = post_webhook(client, payload, sign(payload, timestamp=int(time.time()) + 86400))

    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_an_event_stamped_a_little_ahead_of_our_clock_is_accepted(client):
    # Stripe's clock and ours may drift apart a little: the same 300 s tolerance both ways.
    payload = _pi_event("some.event_we_ignore", "pi_skew")

    response = post_webhook(client, payload, sign(payload, timestamp=int(time.time()) + 60))

    assert response.status_code == 200
    assert StripeEvent.objects.count() == 1


def test_only_post_is_allowed(client):
    assert client.get("/stripe/webhook/").status_code == 405


# --- stored once -------------------------------------------------------------------------------


def test_a_replayed_event_is_stored_once_and_changes_nothing(localstripe, client, buyer, variant):
    checkout = intents.ensure_payment_intent(checkout=CheckoutFactory(buyer=buyer, variant=variant))
    pay(checkout.payment_intent_id)
    payload = _pi_event("payment_intent.succeeded", checkout.payment_intent_id)
    _deliver(client, payload)
    assert Checkout.objects.get(pk=checkout.pk).status == Checkout.Status.PAID
    ledger_rows = LedgerTransaction.objects.count()
    assert ledger_rows == 1

    response = post_webhook(client, payload, sign(payload))

    assert response.status_code == 200
    assert StripeEvent.objects.count() == 1
    event = StripeEvent.objects.get()
    assert event.processed_at is not None
    assert events.process_stripe_event(event_pk=event.pk) is False
    assert LedgerTransaction.objects.count() == ledger_rows
    assert Variant.objects.get(pk=variant.pk).quantity == 4


def test_an_event_of_a_type_we_do_not_handle_is_stored_and_marked_done(client):
    _deliver(client, event_payload("customer.created", {"id": "cus_1", "object": "customer"}))

    event = StripeEvent.objects.get()
    assert event.type == "customer.created"
    assert event.processed_at is not None


# --- any order of arrival ----------------------------------------------------------------------


def test_success_arriving_before_our_own_bookkeeping_still_ends_paid(
    localstripe, client, buyer, variant
):
    checkout = CheckoutFactory(buyer=buyer, variant=variant)
    pi = create_payment_intent(amount=2500, currency="USD", checkout_id=checkout.pk)
    pay(pi["id"])

    _deliver(client, _pi_event("payment_intent.succeeded", pi["id"]))

    checkout.refresh_from_db()
    assert checkout.status == Checkout.Status.PAID
    assert checkout.payment_intent_id == pi["id"]
    assert checkout.orders.get().status == Order.Status.PAID
    # Our own bookkeeping arriving late finds the PaymentIntent there and makes no other.
    assert intents.ensure_payment_intent(checkout=checkout).payment_intent_id == pi["id"]


def test_a_failure_arriving_after_success_leaves_the_order_paid(
    localstripe, client, buyer, variant
):
    checkout = intents.ensure_payment_intent(checkout=CheckoutFactory(buyer=buyer, variant=variant))
    pay(checkout.payment_intent_id)
    _deliver(client, _pi_event("payment_intent.succeeded", checkout.payment_intent_id))

    _deliver(client, _pi_event("payment_intent.payment_failed", checkout.payment_intent_id))

    checkout.refresh_from_db()
    assert checkout.status == Checkout.Status.PAID
    assert checkout.orders.get().status == Order.Status.PAID
    assert Variant.objects.get(pk=variant.pk).quantity == 4


def test_a_stale_failure_for_a_payment_that_has_since_succeeded_marks_it_paid(
    localstripe, client, buyer, variant
):
    checkout = intents.ensure_payment_intent(checkout=CheckoutFactory(buyer=buyer, variant=variant))
    pay(checkout.payment_intent_id)

    _deliver(client, _pi_event("payment_intent.payment_failed", checkout.payment_intent_id))

    assert Checkout.objects.get(pk=checkout.pk).status == Checkout.Status.PAID
    assert Variant.objects.get(pk=variant.pk).quantity == 4


def test_a_cancelled_payment_gives_the_stock_back(localstripe, client, buyer, variant):
    checkout = intents.ensure_payment_intent(
        checkout=CheckoutFactory(buyer=buyer, variant=variant, quantity=3)
    )
    localstripe_call(f"/v1/payment_intents/{checkout.payment_intent_id}/cancel")

    _deliver(client, _pi_event("payment_intent.canceled", checkout.payment_intent_id))

    checkout.refresh_from_db()
    assert checkout.status == Checkout.Status.CANCELLED
    assert checkout.orders.get().status == Order.Status.CANCELLED
    assert Variant.objects.get(pk=variant.pk).quantity == 5


def test_a_forged_cancellation_of_a_live_payment_changes_nothing(
    localstripe, client, buyer, variant
):
    # Correctly signed but untrue: Stripe says the PaymentIntent still awaits payment.
    checkout = intents.ensure_payment_intent(checkout=CheckoutFactory(buyer=buyer, variant=variant))

    _deliver(client, _pi_event("payment_intent.canceled", checkout.payment_intent_id))

    assert Checkout.objects.get(pk=checkout.pk).status == Checkout.Status.OPEN
    assert Variant.objects.get(pk=variant.pk).quantity == 4


def test_a_charge_refunded_event_records_the_refund_status(client, buyer, variant):
    order = CheckoutFactory(buyer=buyer, variant=variant).orders.get()
    refund = Refund.objects.create(
        order=order,
        amount=500,
        currency="USD",
        idempotency_key="refund-w1",
        stripe_refund_id="re_w1",
    )
    charge = {
        "id": "ch_w1",
        "object": "charge",
        "refunds": {"data": [{"id": "re_w1", "object": "refund", "status": "succeeded"}]},
    }

    _deliver(client, event_payload("charge.refunded", charge))

    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert StripeEvent.objects.get().processed_at is not None


def test_a_handler_that_fails_leaves_the_event_unprocessed_with_its_error(client, monkeypatch):
    def broken(payload):
        raise RuntimeError("handler exploded")

    monkeypatch.setitem(events.EVENT_HANDLERS, "test.broken", [broken])
    response = post_webhook(client, *_signed(event_payload("test.broken", {"id": "x"})))
    assert response.status_code == 200
    event = StripeEvent.objects.get()

    with pytest.raises(RuntimeError):
        events.process_stripe_event(event_pk=event.pk)

    event.refresh_from_db()
    assert event.processed_at is None
    assert "handler exploded" in event.error


def _signed(payload):
    return payload, sign(payload)
