"""A declined card leaves the checkout payable with another card until its reservation expires,
as Stripe's PaymentIntent flow allows (a failed attempt returns the PaymentIntent to
requires_payment_method). Only expiry or a cancelled payment gives the stock back, and the
order still becomes paid only from Stripe's word (webhook or reconciliation).

Against a real localstripe, which cannot confirm a PaymentIntent again after a decline: there
orders.gateway makes the next attempt a PaymentIntent of its own."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from orders import gateway
from orders.errors import CardDeclined
from orders.ledger.models import LedgerTransaction
from orders.models import Checkout, Order, OrderEvent, StripeEvent
from orders.payments import events, intents, reconcile, settlement
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.testing import localstripe_call
from shops.models import Variant
from shops.tests.factories import VariantFactory

from .factories import CheckoutFactory, SavedCardFactory
from .payment_helpers import post_webhook, sign

pytestmark = pytest.mark.django_db

DECLINED = "Your card was declined — try another card."
GOOD, DECLINING = "4242424242424242", "4000000000000341"


@pytest.fixture
def variant(db):
    return VariantFactory(quantity=5, price_amount=2500)


@pytest.fixture
def buyer(db):
    return UserFactory()


@pytest.fixture
def buyer_client(client, buyer):
    client.force_login(buyer)
    return client


def _card(number: str) -> str:
    """What localstripe's Stripe.js makes of the card form: a card token, straight to Stripe."""
    token = localstripe_call(
        "/v1/tokens",
        {"card[number]": number, "card[exp_month]": 12, "card[exp_year]": 2040, "card[cvc]": "123"},
    )
    return token["card"]["id"]


def _stock(variant) -> int:
    return Variant.objects.get(pk=variant.pk).quantity


def _deliver(client, payment_intent_id: str, event_type: str) -> None:
    """Stripe's own events about this PaymentIntent, posted to our webhook and processed as
    the worker does."""
    # Through every page: the session's localstripe holds the whole suite's events.
    now = int(time.time())
    listed = gateway.list_events(
        type=event_type, created_from=now - 600, created_to=now + 60, max_events=100_000
    )
    mine = [e for e in listed if e["data"]["object"]["id"] == payment_intent_id]
    assert mine, f"localstripe sent no {event_type} for {payment_intent_id}"
    for event in mine:
        payload = json.dumps(event).encode()
        assert post_webhook(client, payload, sign(payload)).status_code == 200
    for stored in StripeEvent.objects.filter(processed_at__isnull=True):
        events.process_stripe_event(event_pk=stored.pk)


def _decline(checkout, buyer):
    with pytest.raises(CardDeclined) as declined:
        intents.confirm_tokenised_card(checkout=checkout, by=buyer, payment_method=_card(DECLINING))
    assert declined.value.message == DECLINED
    return Checkout.objects.get(pk=checkout.pk)


# --- the service -------------------------------------------------------------------------------


def test_a_declined_card_leaves_the_checkout_open_with_its_stock_held(
    localstripe, client, buyer, variant
):
    checkout = intents.ensure_payment_intent(
        checkout=CheckoutFactory(buyer=buyer, variant=variant, quantity=2)
    )

    checkout = _decline(checkout, buyer)
    _deliver(client, checkout.payment_intent_id, "payment_intent.payment_failed")

    checkout.refresh_from_db()
    assert checkout.status == Checkout.Status.OPEN
    order = checkout.orders.get()
    assert order.status == Order.Status.PENDING_PAYMENT
    assert _stock(variant) == 3  # still held for this buyer
    assert OrderEvent.objects.filter(order=order, kind="payment_failed").count() == 1
    assert not LedgerTransaction.objects.exists()


def test_another_card_after_a_decline_pays_the_checkout(localstripe, client, buyer, variant):
    checkout = intents.ensure_payment_intent(
        checkout=CheckoutFactory(buyer=buyer, variant=variant, quantity=2)
    )
    declined_pi = _decline(checkout, buyer).payment_intent_id
    _deliver(client, declined_pi, "payment_intent.payment_failed")

    paid = intents.confirm_tokenised_card(checkout=checkout, by=buyer, payment_method=_card(GOOD))

    assert paid.status == "succeeded"
    checkout.refresh_from_db()
    assert checkout.status == Checkout.Status.OPEN  # paid only once Stripe's event is processed
    _deliver(client, checkout.payment_intent_id, "payment_intent.succeeded")
    checkout.refresh_from_db()
    assert checkout.status == Checkout.Status.PAID
    assert checkout.orders.get().status == Order.Status.PAID
    assert _stock(variant) == 3  # taken once, at checkout
    assert LedgerTransaction.objects.count() == 1
    if checkout.payment_intent_id != declined_pi:  # localstripe: the attempt had its own
        assert gateway.retrieve_payment_intent(declined_pi).status == "canceled"


def test_each_attempt_after_a_decline_has_idempotency_keys_of_its_own(localstripe, buyer, variant):
    # Stripe replays a key's first answer for a day, the decline included.
    checkout = intents.ensure_payment_intent(checkout=CheckoutFactory(buyer=buyer, variant=variant))
    _decline(checkout, buyer)
    checkout = _decline(checkout, buyer)
    assert checkout.idempotency_key == f"checkout-{checkout.pk}-attempt-2"

    intents.confirm_tokenised_card(checkout=checkout, by=buyer, payment_method=_card(GOOD))

    checkout.refresh_from_db()
    assert checkout.idempotency_key == f"checkout-{checkout.pk}-attempt-3"
    assert settlement.settle(checkout_id=checkout.pk).status == Checkout.Status.PAID


def test_expiry_still_releases_a_checkout_whose_card_was_declined(
    localstripe, client, buyer, variant
):
    checkout = intents.ensure_payment_intent(
        checkout=CheckoutFactory(buyer=buyer, variant=variant, quantity=2)
    )
    first_pi = _decline(checkout, buyer).payment_intent_id
    checkout = _decline(checkout, buyer)  # twice: a second attempt
    _deliver(client, first_pi, "payment_intent.payment_failed")
    Checkout.objects.filter(pk=checkout.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    assert reconcile.release_expired_checkouts() == 1

    checkout.refresh_from_db()
    assert checkout.status == Checkout.Status.EXPIRED
    assert checkout.orders.get().status == Order.Status.CANCELLED
    assert _stock(variant) == 5
    for pi_id in {first_pi, checkout.payment_intent_id}:  # nothing left that could be charged
        assert gateway.retrieve_payment_intent(pi_id).status == "canceled"


def test_a_cancelled_payment_after_a_decline_gives_the_stock_back(
    localstripe, client, buyer, variant
):
    checkout = intents.ensure_payment_intent(checkout=CheckoutFactory(buyer=buyer, variant=variant))
    checkout = _decline(checkout, buyer)
    localstripe_call(f"/v1/payment_intents/{checkout.payment_intent_id}/cancel")

    settlement.payment_canceled(payment_intent_id=checkout.payment_intent_id)

    assert Checkout.objects.get(pk=checkout.pk).status == Checkout.Status.CANCELLED
    assert _stock(variant) == 5


def test_a_declined_saved_card_then_another_saved_card_pays(localstripe, buyer, variant):
    declining = SavedCardFactory(user=buyer, number=DECLINING)
    good = SavedCardFactory(user=buyer, number=GOOD)
    checkout = intents.ensure_payment_intent(checkout=CheckoutFactory(buyer=buyer, variant=variant))

    with pytest.raises(CardDeclined):
        intents.pay_with_saved_card(checkout=checkout, by=buyer, card_id=declining.pk)
    paid = intents.pay_with_saved_card(checkout=checkout, by=buyer, card_id=good.pk)

    assert paid.status == "succeeded"
    assert settlement.settle(checkout_id=checkout.pk).status == Checkout.Status.PAID
    assert _stock(variant) == 4


# --- the pay page ------------------------------------------------------------------------------


def test_the_pay_page_after_a_decline_says_so_and_offers_the_card_form(
    localstripe, buyer_client, buyer, variant
):
    checkout = CheckoutFactory(buyer=buyer, variant=variant)
    assert buyer_client.get(f"/checkout/{checkout.pk}/pay/").status_code == 200

    response = buyer_client.post(
        f"/checkout/{checkout.pk}/pay/local-confirm/", {"payment_method": _card(DECLINING)}
    )
    assert response.status_code == 402
    assert response.json() == {"detail": DECLINED, "code": "card_declined"}
    checkout.refresh_from_db()
    _deliver(buyer_client, checkout.payment_intent_id, "payment_intent.payment_failed")

    body = buyer_client.get(f"/checkout/{checkout.pk}/pay/").content.decode()
    assert DECLINED in body
    assert 'id="payment-form"' in body
    assert 'id="pay-button"' in body
    assert "cannot be paid" not in body
    assert "payment failed" not in body


def test_the_pay_page_pays_with_another_card_after_a_decline(
    localstripe, buyer_client, buyer, variant
):
    checkout = CheckoutFactory(buyer=buyer, variant=variant)
    buyer_client.get(f"/checkout/{checkout.pk}/pay/")
    url = f"/checkout/{checkout.pk}/pay/local-confirm/"
    assert buyer_client.post(url, {"payment_method": _card(DECLINING)}).status_code == 402

    response = buyer_client.post(url, {"payment_method": _card(GOOD)})

    assert response.status_code == 200
    assert response.json() == {"status": "succeeded"}
    assert settlement.settle(checkout_id=checkout.pk).status == Checkout.Status.PAID
    body = buyer_client.get(f"/checkout/{checkout.pk}/pay/", follow=True).content.decode()
    assert DECLINED not in body


def test_a_pay_page_without_a_decline_shows_no_decline(localstripe, buyer_client, buyer, variant):
    checkout = CheckoutFactory(buyer=buyer, variant=variant)

    body = buyer_client.get(f"/checkout/{checkout.pk}/pay/").content.decode()

    assert "declined" not in body
    assert 'id="payment-form"' in body
