"""Saving a card in a real browser: tick "Save this card" on the payment page (localstripe's
Stripe.js card form), the webhook reaches a real Celery worker which marks the checkout paid
and keeps the card; the next checkout is paid with one button. PostgreSQL, Redis,
localstripe and Debian's chromium, all real."""

import pytest

from orders.models import Checkout, SavedCard
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.testing import wait_until
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

    ctx = browser.new_context(viewport=PHONE)
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "sam")
    page.fill("#id_password", "pw-Secret-123")
    page.click("button[type=submit]")
    page.wait_for_load_state()

    page.goto(f"{base}/checkout/{first.pk}/pay/")
    card = page.locator("#card-element")
    card.locator("input[placeholder=number]").fill("4242424242424242")
    card.locator("input[placeholder=exp_month]").fill("12")
    card.locator("input[placeholder=exp_year]").fill("34")
    card.locator("input[placeholder=cvc]").fill("123")
    card.locator("input[placeholder=postal_code]").fill("12345")
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
    ctx.close()
