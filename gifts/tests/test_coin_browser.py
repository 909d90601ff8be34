"""A viewer buys coins in a real browser: the Coins page -> a pack -> a test card in
localstripe's Stripe.js card form -> localstripe posts the signed webhook to the live server
-> a real Celery worker credits the wallet -> the purchase page shows the coins. PostgreSQL,
Redis, localstripe and Debian's chromium, all real."""

import pytest

from gifts import wallet
from gifts.coins.models import CoinPurchase
from orders.tests.conftest import stripe_env, stripe_webhooks_to, worker  # noqa: F401 - fixtures
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.testing import csp_violations, watch_csp

from .coin_factories import make_pack

pytestmark = [
    pytest.mark.services,
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

PHONE = {"width": 390, "height": 844}


def test_a_viewer_buys_a_pack_with_a_test_card_and_sees_the_coins(
    browser,
    worker,  # noqa: F811 - the fixture imported above
    stripe_webhooks_to,  # noqa: F811
    tmp_path,
):
    base = stripe_webhooks_to.url
    make_pack(coins=70, usd=89, name="Starter", sort_order=0)
    make_pack(coins=350, usd=449, name="Small", sort_order=1)
    viewer = UserFactory(username="sam", handle="sam")

    ctx = browser.new_context(viewport=PHONE)
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    seen = watch_csp(page)
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "sam")
    page.fill("#id_password", "pw-Secret-123")
    page.click("button[type=submit]")
    page.wait_for_load_state()

    page.goto(f"{base}/coins/")
    pack = page.locator(".coin-pack", has_text="Small")
    assert "$4.49" in pack.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(tmp_path / "coins-phone.png"), full_page=True)
    pack.locator("text=Buy for $4.49").click()
    page.wait_for_url(f"{base}/coins/purchases/*/pay/")
    assert csp_violations(page, seen) == []

    card = page.locator("#card-element")
    card.locator("input[placeholder=number]").fill("4242424242424242")
    card.locator("input[placeholder=exp_month]").fill("12")
    card.locator("input[placeholder=exp_year]").fill("34")
    card.locator("input[placeholder=cvc]").fill("123")
    card.locator("input[placeholder=postal_code]").fill("12345")
    page.click("#pay-button")

    page.wait_for_url(f"{base}/coins/purchases/*/")
    page.locator("#purchase-status.paid").wait_for(timeout=30_000)
    assert "350 coins added" in page.inner_text("#purchase-status")
    purchase = CoinPurchase.objects.get()
    assert purchase.status == CoinPurchase.Status.PAID
    assert wallet.wallet_balance(viewer) == 350
    assert "process_stripe_event_task" in worker.output()

    page.goto(f"{base}/coins/")
    assert page.inner_text("#coin-balance") == "350"
    assert "Refund 350 unused coins" in page.inner_text(".coin-purchases")
    assert errors == []
    assert csp_violations(page, seen) == []
    ctx.close()
