"""A shopper buys in a real browser: product page -> Buy now -> address -> a test card in
localstripe's Stripe.js card form -> localstripe posts the webhook to the live server -> a
real Celery worker marks the order paid -> the done page shows it. PostgreSQL, Redis,
localstripe and Debian's chromium, all real."""

import os
from pathlib import Path

import pytest

from orders.models import Checkout, Order, SaleSource
from shopfeed.accounts.tests.factories import CreatorFactory, UserFactory
from shopfeed.testing import fill_address_form, fill_card_form, log_in_page, phone_page
from shops.models import Variant
from shops.tests.factories import ProductFactory, ShopFactory, VariantFactory

pytestmark = [
    pytest.mark.services,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

PHONE = {"width": 390, "height": 844}


def _screenshot(page, tmp_path: Path, name: str) -> None:
    """Kept with the test's files; SHOPFEED_SCREENSHOTS=<dir> keeps a copy for a person."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    keep = os.environ.get("SHOPFEED_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / path.name).write_bytes(path.read_bytes())


@pytest.mark.postgres
def test_shopper_pays_with_a_test_card_and_sees_the_paid_order(
    browser, worker, stripe_webhooks_to, tmp_path
):
    base = stripe_webhooks_to.url
    shop = ShopFactory(owner=CreatorFactory(username="mia", handle="mia"), name="Mia's Closet")
    product = ProductFactory(shop=shop, title="Linen Shirt", handle="linen-shirt")
    variant = VariantFactory(product=product, option1="M", price_amount=3900, quantity=5)
    UserFactory(username="sam", handle="sam")

    page, errors = phone_page(browser, PHONE)

    log_in_page(page, base, "sam")

    # From the shopping tab to the product page, then straight to checkout.
    page.goto(f"{base}/@mia/")
    page.locator(".product-card", has_text="Linen Shirt").click()
    page.wait_for_url(f"{base}/@mia/products/linen-shirt/?from=tab")
    _screenshot(page, tmp_path, "product-phone")
    page.fill("#buy-qty", "2")
    page.click("text=Buy now")
    page.wait_for_url(f"{base}/checkout/?buy_now=1")
    summary = page.inner_text(".checkout-summary")
    assert "Mia's Closet" in summary
    assert "$78.00" in summary

    fill_address_form(page)
    _screenshot(page, tmp_path, "checkout-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.click("text=Continue to payment")
    page.wait_for_url(f"{base}/checkout/*/pay/")

    fill_card_form(page)
    _screenshot(page, tmp_path, "pay-phone")
    page.click("#pay-button")

    page.wait_for_url(f"{base}/checkout/*/done/")
    page.locator("#checkout-status.paid").wait_for(timeout=30_000)
    status = page.inner_text("#checkout-status")
    assert "Payment confirmed" in status
    assert "Mia's Closet" in status
    assert "Paid" in status
    _screenshot(page, tmp_path, "done-phone")

    checkout = Checkout.objects.get()
    order = Order.objects.get()
    assert checkout.status == Checkout.Status.PAID
    assert checkout.total_amount == 7800
    assert order.status == Order.Status.PAID
    assert order.source == SaleSource.SHOPPING_TAB
    assert Variant.objects.get(pk=variant.pk).quantity == 3
    assert "process_stripe_event_task" in worker.output()

    page.click(f"text=Order #{order.pk}")
    page.wait_for_url(f"{base}/orders/{order.pk}/")
    assert "Linen Shirt" in page.inner_text("body")
    assert errors == []
    page.context.close()


def test_anonymous_cart_updates_in_place_and_survives_logging_in(
    browser, live_server, tmp_path, monkeypatch
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    base = live_server.url
    for handle, title in (("mia", "Linen Shirt"), ("leo", "Clay Mug")):
        shop = ShopFactory(owner=CreatorFactory(username=handle, handle=handle))
        product = ProductFactory(shop=shop, title=title, handle=title.lower().replace(" ", "-"))
        VariantFactory(product=product, price_amount=1500, quantity=20)
    UserFactory(username="sam", handle="sam")

    ctx = browser.new_context(viewport=PHONE)
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    for url in ("/@mia/products/linen-shirt/", "/@leo/products/clay-mug/"):
        page.goto(f"{base}{url}")
        page.click("text=Add to cart")
        page.wait_for_url(f"{base}/cart/")
    assert page.inner_text("#nav-cart") == "Cart (2)"
    assert "$30.00" in page.inner_text(".totals")

    line = page.locator(".line", has_text="Linen Shirt")
    line.locator("input[name=quantity]").fill("3")
    line.locator("text=Update").click()
    page.locator("#nav-cart", has_text="Cart (4)").wait_for()  # swapped in place by htmx
    assert "$60.00" in page.inner_text(".totals")
    _screenshot(page, tmp_path, "cart-phone")

    page.click("text=Check out")
    page.wait_for_url(f"{base}/accounts/login/?next=/checkout/")
    page.fill("#id_username", "sam")
    page.fill("#id_password", "pw-Secret-123")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/checkout/")
    summary = page.inner_text(".checkout-summary")
    assert "Linen Shirt" in summary
    assert "Clay Mug" in summary
    assert "$60.00" in summary
    ctx.close()
