import pytest

from orders import gateway
from orders.errors import PaymentError


def test_payment_intent_round_trip_through_localstripe(localstripe):
    pi = gateway.create_payment_intent(
        amount=2500, currency="USD", idempotency_key="checkout-t1", metadata={"checkout_id": "1"}
    )
    assert pi.id.startswith("pi_")
    assert pi.client_secret
    again = gateway.retrieve_payment_intent(pi.id)
    assert (again.amount, again.currency, again.metadata) == (2500, "USD", {"checkout_id": "1"})
    assert again.status == "requires_payment_method"


def test_stripe_refusal_becomes_a_payment_error(localstripe):
    with pytest.raises(PaymentError):
        gateway.retrieve_payment_intent("pi_doesnotexist")
