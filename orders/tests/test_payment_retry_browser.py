"""A declined card, then another card, in a real browser: localstripe's Stripe.js card form,
the decline's webhook reaching a real Celery worker (which leaves the checkout open), a reload
that still offers the form, and the second card's webhook marking the order paid.
PostgreSQL, Redis, localstripe and Debian's chromium, all real."""

import pytest

from orders.models import Checkout, Order, StripeEvent
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.testing import fill_card_form, log_in_page, phone_page, wait_until
from shops.models import Variant
from shops.tests.factories import ProductFactory, VariantFactory

from .factories import CheckoutFactory
from .test_checkout_browser import PHONE

pytestmark = [
    pytest.mark.services,
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

DECLINED = "Your card was declined — try another card."


@pytest.mark.usefixtures("worker", "stripe_webhooks_to")
def test_a_shopper_whose_card_is_declined_pays_with_another_card(browser, live_server, shop):
    base = live_server.url
    variant = VariantFactory(product=ProductFactory(shop=shop), price_amount=2500, quantity=5)
    buyer = UserFactory(username="sam", handle="sam")
    checkout = CheckoutFactory(buyer=buyer, variant=variant, quantity=2)

    page, errors = phone_page(browser, PHONE)
    log_in_page(page, base, "sam")

    page.goto(f"{base}/checkout/{checkout.pk}/pay/")
    fill_card_form(page, "4000000000000341")
    page.click("#pay-button")
    page.locator("#card-errors", has_text=DECLINED).wait_for()
    assert page.is_enabled("#pay-button")

    # The worker has processed Stripe's payment_failed: the checkout is still open.
    def failure_processed():
        """the decline's webhook is processed"""
        return StripeEvent.objects.filter(
            type="payment_intent.payment_failed", processed_at__isnull=False
        ).exists()

    wait_until(failure_processed, timeout=30)
    assert Checkout.objects.get(pk=checkout.pk).status == Checkout.Status.OPEN
    assert Variant.objects.get(pk=variant.pk).quantity == 3
    page.reload()
    assert page.inner_text("#declined-notice") == DECLINED
    assert "cannot be paid" not in page.inner_text("body")

    fill_card_form(page, "4242424242424242")
    page.click("#pay-button")
    page.wait_for_url(f"{base}/checkout/{checkout.pk}/done/")
    page.locator("#checkout-status.paid").wait_for(timeout=30_000)

    assert Checkout.objects.get(pk=checkout.pk).status == Checkout.Status.PAID
    assert Order.objects.get(checkout=checkout).status == Order.Status.PAID
    assert Variant.objects.get(pk=variant.pk).quantity == 3
    assert errors == []
    page.context.close()
