"""One-tap "Buy now" in a live room: saved address + saved card pays at once (localstripe) and
goes to the done page; anything less goes to the payment page as before."""

import pytest
from django.urls import reverse

from orders.models import Checkout, Order
from orders.payments import settlement
from orders.tests.factories import AddressFactory, SavedCardFactory
from orders.tests.payment_helpers import payment_intent
from shopfeed.accounts.tests.factories import UserFactory

from .selling_support import live_session, product_with_variant

pytestmark = [pytest.mark.django_db, pytest.mark.services]


@pytest.fixture(autouse=True)
def _memory_bus(settings):
    from live.room.bus import get_bus

    settings.REDIS_URL = ""
    get_bus.cache_clear()
    yield
    get_bus.cache_clear()


@pytest.fixture
def stock(shop):
    return product_with_variant(shop, price_amount=2000, quantity=5)


@pytest.fixture
def session(shop, stock):
    return live_session(shop, stock[0])


def _with_address(user):
    AddressFactory(user=user)
    return user


def _tap(client, session, variant):
    return client.post(
        reverse("live:buy", kwargs={"pk": session.pk}), {"variant_id": variant.pk, "quantity": 1}
    )


def test_saved_address_and_card_pay_in_one_tap_and_go_to_the_done_page(
    localstripe, client, shopper, session, stock
):
    card = SavedCardFactory(user=_with_address(shopper))
    client.force_login(shopper)

    response = _tap(client, session, stock[1])

    checkout = Checkout.objects.get(buyer=shopper)
    assert response["Location"] == reverse(
        "orders:checkout-done", kwargs={"checkout_id": checkout.pk}
    )
    pi = payment_intent(checkout.payment_intent_id)
    assert (pi["status"], pi["payment_method"], pi["amount"]) == (
        "succeeded",
        card.payment_method_id,
        2000,
    )
    # Paid once Stripe's word is settled (the webhook, or reconciliation).
    assert settlement.settle(checkout_id=checkout.pk).status == Checkout.Status.PAID
    order = Order.objects.get(checkout=checkout)
    assert (order.status, order.source, order.source_ref) == ("paid", "live", str(session.pk))


def test_someone_elses_saved_card_does_not_make_my_tap_pay(
    localstripe, client, shopper, session, stock
):
    SavedCardFactory(user=UserFactory())
    client.force_login(_with_address(shopper))

    response = _tap(client, session, stock[1])

    checkout = Checkout.objects.get(buyer=shopper)
    assert response["Location"] == reverse(
        "orders:checkout-pay", kwargs={"checkout_id": checkout.pk}
    )
    assert checkout.status == Checkout.Status.OPEN
    assert not checkout.payment_intent_id


def test_a_declined_saved_card_sends_the_buyer_to_pay_another_way(
    localstripe, client, shopper, session, stock
):
    SavedCardFactory(user=_with_address(shopper), number="4000000000000341")
    client.force_login(shopper)

    response = _tap(client, session, stock[1])

    checkout = Checkout.objects.get(buyer=shopper)
    pay_url = reverse("orders:checkout-pay", kwargs={"checkout_id": checkout.pk})
    assert response["Location"] == pay_url
    body = client.get(pay_url).content.decode()
    assert "Your card was declined" in body
    assert 'id="payment-form"' in body
    assert settlement.settle(checkout_id=checkout.pk).status == Checkout.Status.OPEN
