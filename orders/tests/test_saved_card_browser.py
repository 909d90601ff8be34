"""Saving a card in a real browser: tick "Save this card" on the payment page (localstripe's
Stripe.js card form), the webhook reaches a real Celery worker which marks the checkout paid
and keeps the card; the next checkout is paid with one button. PostgreSQL, Redis,
localstripe and Debian's chromium, all real."""

import pytest

from orders.models import Checkout, SavedCard
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.testing import fill_card_form, log_in_page, phone_page, wait_until
from shops.tests.factories import ProductFactory, VariantFactory

from .factories import CheckoutFactory
from .test_checkout_browser import PHONE

pytestmark = [
    pytest.mark.services,
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


@pytest.mark.usefixtures("worker", "stripe_webhooks_to")
def test_a_card_saved_while_paying_pays_the_next_checkout_with_one_button(
    browser, live_server, shop
):
    base = live_server.url
    variant = VariantFactory(product=ProductFactory(shop=shop), price_amount=2500, quantity=5)
    buyer = UserFactory(username="sam", handle="sam")
    first, second = (
        CheckoutFactory(buyer=buyer, variant=variant),
        CheckoutFactory(buyer=buyer, variant=variant),
    )

    page, errors = phone_page(browser, PHONE)
    log_in_page(page, base, "sam")

    page.goto(f"{base}/checkout/{first.pk}/pay/")
    fill_card_form(page)
    page.check("#save-card")
    page.click("#pay-button")
    page.wait_for_url(f"{base}/checkout/{first.pk}/done/")
    page.locator("#checkout-status.paid").wait_for(timeout=30_000)

    saved = wait_until(lambda: SavedCard.objects.filter(user=buyer).first())
    assert (saved.brand, saved.last4) == ("visa", "4242")

    page.goto(f"{base}/checkout/{second.pk}/pay/")
    page.click("text=with Visa •••• 4242")
    page.wait_for_url(f"{base}/checkout/{second.pk}/done/")
    page.locator("#checkout-status.paid").wait_for(timeout=30_000)
    assert Checkout.objects.get(pk=second.pk).status == Checkout.Status.PAID
    assert errors == []
    page.context.close()
