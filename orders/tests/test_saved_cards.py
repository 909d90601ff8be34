"""Saved cards: ticking "Save this card" while paying, paying with the saved card from the
server, declines, removing a card, and nobody using anyone else's card. Against a real
localstripe."""

import pytest

from orders.cards import services as cards
from orders.models import Checkout, PaymentProfile, SavedCard
from orders.payments import intents, settlement
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.errors import NotFound
from shopfeed.testing import localstripe_call
from shops.tests.factories import ProductFactory, VariantFactory

from .factories import CheckoutFactory, SavedCardFactory
from .payment_helpers import card_payment_method, payment_intent

pytestmark = [pytest.mark.django_db, pytest.mark.services]


@pytest.fixture
def variant(shop):
    return VariantFactory(product=ProductFactory(shop=shop), price_amount=2500, quantity=10)


@pytest.fixture
def buyer_client(client, shopper):
    client.force_login(shopper)
    return client


def _pay_on_the_page(client, checkout, *, save: bool, number="4242424242424242"):
    """What checkout.js does: open the pay page, say whether to save, have the card confirmed."""
    assert client.get(f"/checkout/{checkout.pk}/pay/").status_code == 200
    if save:
        response = client.post(f"/checkout/{checkout.pk}/pay/save-card/", {"save": "1"})
        assert response.status_code == 200
    response = client.post(
        f"/checkout/{checkout.pk}/pay/local-confirm/",
        {"payment_method": card_payment_method(number)},
    )
    assert response.json() == {"status": "succeeded"}


def _settle(checkout, capture):
    # The webhook does this; here Stripe is asked directly. Saving runs after the commit.
    with capture(execute=True):
        assert settlement.settle(checkout_id=checkout.pk).status == Checkout.Status.PAID


def test_ticking_save_keeps_the_card_for_that_buyer_only(
    localstripe, buyer_client, shopper, variant, django_capture_on_commit_callbacks
):
    checkout = CheckoutFactory(buyer=shopper, variant=variant)
    _pay_on_the_page(buyer_client, checkout, save=True)
    assert not SavedCard.objects.exists()  # not before Stripe says the payment succeeded
    _settle(checkout, django_capture_on_commit_callbacks)

    card = SavedCard.objects.get()
    assert (card.user, card.brand, card.last4, card.exp_year) == (shopper, "visa", "4242", 2040)
    customer = PaymentProfile.objects.get(user=shopper).stripe_customer_id
    pm = localstripe_call(f"/v1/payment_methods/{card.payment_method_id}", method="GET")
    assert pm["customer"] == customer
    # The next payment page offers it; another buyer's does not.
    body = buyer_client.get(
        f"/checkout/{CheckoutFactory(buyer=shopper, variant=variant).pk}/pay/"
    ).content
    assert "Visa •••• 4242" in body.decode()
    other = UserFactory()
    buyer_client.force_login(other)
    body = buyer_client.get(
        f"/checkout/{CheckoutFactory(buyer=other, variant=variant).pk}/pay/"
    ).content
    assert "•••• 4242" not in body.decode()


def test_paying_without_ticking_save_keeps_no_card(
    localstripe, buyer_client, shopper, variant, django_capture_on_commit_callbacks
):
    checkout = CheckoutFactory(buyer=shopper, variant=variant)
    _pay_on_the_page(buyer_client, checkout, save=False)
    _settle(checkout, django_capture_on_commit_callbacks)
    assert not SavedCard.objects.exists()


def test_unticking_save_before_paying_keeps_no_card(
    localstripe, buyer_client, shopper, variant, django_capture_on_commit_callbacks
):
    checkout = CheckoutFactory(buyer=shopper, variant=variant)
    buyer_client.get(f"/checkout/{checkout.pk}/pay/")
    buyer_client.post(f"/checkout/{checkout.pk}/pay/save-card/", {"save": "1"})
    buyer_client.post(f"/checkout/{checkout.pk}/pay/save-card/", {"save": "0"})
    buyer_client.post(
        f"/checkout/{checkout.pk}/pay/local-confirm/", {"payment_method": card_payment_method()}
    )
    _settle(checkout, django_capture_on_commit_callbacks)
    assert not SavedCard.objects.exists()


def test_paying_with_the_saved_card_charges_it_at_stripe_and_the_order_is_paid_on_settle(
    localstripe, buyer_client, shopper, variant
):
    card = SavedCardFactory(user=shopper)
    checkout = intents.ensure_payment_intent(
        checkout=CheckoutFactory(buyer=shopper, variant=variant)
    )

    response = buyer_client.post(f"/checkout/{checkout.pk}/pay/saved-card/")
    assert response["Location"] == f"/checkout/{checkout.pk}/done/"
    pi = payment_intent(checkout.payment_intent_id)
    assert (pi["status"], pi["payment_method"]) == ("succeeded", card.payment_method_id)
    checkout.refresh_from_db()
    assert checkout.status == Checkout.Status.OPEN  # paid only once Stripe's word is settled
    assert settlement.settle(checkout_id=checkout.pk).status == Checkout.Status.PAID
    assert checkout.orders.get().status == "paid"


def test_nobody_pays_with_someone_elses_card(localstripe, shopper, variant):
    owner_card = SavedCardFactory(user=shopper)
    other = UserFactory()
    theirs = intents.ensure_payment_intent(checkout=CheckoutFactory(buyer=other, variant=variant))

    with pytest.raises(NotFound):  # naming the card
        intents.pay_with_saved_card(checkout=theirs, by=other, card_id=owner_card.pk)
    with pytest.raises(NotFound, match="no saved card"):  # the other buyer has none
        intents.pay_with_saved_card(checkout=theirs, by=other)
    with pytest.raises(NotFound):  # the card's owner paying someone else's checkout
        intents.pay_with_saved_card(checkout=theirs, by=shopper)

    pi = payment_intent(theirs.payment_intent_id)
    assert (pi["status"], pi["payment_method"]) == ("requires_payment_method", None)
    assert Checkout.objects.get(pk=theirs.pk).status == Checkout.Status.OPEN


def test_a_declined_saved_card_is_explained_and_the_checkout_can_still_be_paid_on_the_page(
    localstripe, buyer_client, shopper, variant
):
    SavedCardFactory(user=shopper, number="4000000000000341")  # attaches, every charge declined
    checkout = CheckoutFactory(buyer=shopper, variant=variant)

    response = buyer_client.post(f"/checkout/{checkout.pk}/pay/saved-card/", follow=True)
    assert response.redirect_chain == [(f"/checkout/{checkout.pk}/pay/", 302)]
    body = response.content.decode()
    assert "Your card was declined" in body
    assert 'id="payment-form"' in body
    assert "Save this card for one-tap buying" in body
    assert settlement.settle(checkout_id=checkout.pk).status == Checkout.Status.OPEN
    assert checkout.orders.get().status == "pending_payment"


def test_a_buyer_removes_a_saved_card_and_it_is_detached_at_stripe(
    localstripe, buyer_client, shopper
):
    card = SavedCardFactory(user=shopper)
    other_card = SavedCardFactory(user=UserFactory())

    assert buyer_client.post(f"/orders/cards/{other_card.pk}/remove/").status_code == 404
    assert "Visa •••• 4242" in buyer_client.get("/orders/cards/").content.decode()
    response = buyer_client.post(f"/orders/cards/{card.pk}/remove/", follow=True)
    assert "The card was removed." in response.content.decode()

    assert list(SavedCard.objects.all()) == [other_card]
    pm = localstripe_call(f"/v1/payment_methods/{card.payment_method_id}", method="GET")
    assert pm["customer"] is None
    assert cards.default_card(user=shopper) is None
