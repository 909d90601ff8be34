"""The main pages in a real browser under the Content-Security-Policy: they work, and the
browser reports no violation (console or securitypolicyviolation events). Checkout runs
against localstripe's Stripe.js; the live page over the ASGI server is in
live/tests/test_live_csp_browser.py."""

import pytest

from live.tests.selling_support import live_session
from shopfeed.accounts.tests.factories import CreatorFactory, UserFactory
from shopfeed.testing import csp_violations, watch_csp
from shops.tests.factories import ProductFactory, ProductImageFactory, ShopFactory, VariantFactory

pytestmark = [
    pytest.mark.services,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def world(db):
    creator = CreatorFactory(username="mia", handle="mia")
    shop = ShopFactory(owner=creator, name="Mia's Closet")
    product = ProductFactory(shop=shop, title="Linen Shirt", handle="linen-shirt")
    VariantFactory(product=product, option1="S", price_amount=3900, quantity=0, position=0)
    VariantFactory(product=product, option1="M", price_amount=4200, quantity=5, position=1)
    ProductImageFactory(product=product)
    ProductImageFactory(product=product)
    session = live_session(shop, product)
    UserFactory(username="sam", handle="sam")
    UserFactory(username="boss", handle="boss", is_staff=True, is_superuser=True)
    return {"product": product, "session": session}


class Visitor:
    def __init__(self, browser, base, username=None):
        self.base = base
        self.context = browser.new_context(viewport=PHONE)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.seen = watch_csp(self.page)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.violations: dict[str, list[str]] = {}
        if username:
            self.visit("/accounts/login/")
            self.page.fill("#id_username", username)
            self.page.fill("#id_password", "pw-Secret-123")
            self.page.click("main button[type=submit]")
            self.page.wait_for_load_state()

    def visit(self, path):
        self.page.goto(f"{self.base}{path}")
        self.page.wait_for_load_state("networkidle")
        self.check(path)

    def check(self, where):
        found = csp_violations(self.page, self.seen)
        self.seen.clear()
        if found:
            self.violations[where] = found

    def close(self):
        self.context.close()


def test_shopper_pages_and_checkout_work_under_the_policy(browser, live_server, localstripe, world):
    sam = Visitor(browser, live_server.url, "sam")
    page = sam.page
    for path in ("/", "/search/?q=linen", "/@mia/", "/live/", "/accounts/signup/"):
        sam.visit(path)

    # Product page: the picker (product.js) changes price and what is bought.
    sam.visit("/@mia/products/linen-shirt/?from=tab")
    page.locator(".variant-option", has_text="M").click()
    assert page.inner_text("#pd-price") == "$42.00"
    page.locator(".thumbs a").nth(1).click()
    page.fill("#buy-qty", "1")
    page.click("text=Buy now")
    page.wait_for_url(f"{live_server.url}/checkout/?buy_now=1")
    sam.check("checkout")

    page.fill("#id_full_name", "Sam Shopper")
    page.fill("#id_line1", "1 Main St")
    page.fill("#id_city", "Springfield")
    page.fill("#id_region", "NY")
    page.fill("#id_postal_code", "12345")
    page.fill("#id_country", "US")
    page.click("text=Continue to payment")
    page.wait_for_url(f"{live_server.url}/checkout/*/pay/")
    # Stripe.js (localstripe's) loaded from STRIPE_JS_URL and mounted its card form.
    page.locator("#card-element input[placeholder=number]").fill("4242424242424242")
    page.wait_for_load_state("networkidle")
    sam.check("pay")

    sam.visit("/cart/")
    sam.visit("/orders/")
    sam.close()

    assert sam.violations == {}
    assert sam.errors == []


def test_creator_and_staff_pages_work_under_the_policy(browser, live_server, world):
    mia = Visitor(browser, live_server.url, "mia")
    page = mia.page
    for path in (
        "/dashboard/", "/dashboard/products/", f"/dashboard/products/{world['product'].pk}/",
        "/dashboard/tab/", "/dashboard/import/", "/dashboard/orders/", "/dashboard/payouts/",
        "/live/studio/", "/live/studio/new/",
    ):  # fmt: skip
        mia.visit(path)

    mia.visit("/dashboard/products/new/")
    page.click("#add-variant")  # product_form.js
    assert page.locator("#id_variants-1-sku").count() == 1

    # A confirm() asked for by data-confirm (app.js): saying no keeps the live on.
    mia.visit(f"/live/studio/{world['session'].pk}/")
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.click("text=End live")
    page.wait_for_load_state("networkidle")
    assert asked == ["End this live for everyone?"]
    assert page.url.endswith(f"/live/studio/{world['session'].pk}/")
    mia.check("confirm")
    mia.close()

    boss = Visitor(browser, live_server.url, "boss")
    for path in (
        "/admin/",
        "/admin/shops/product/",
        f"/admin/shops/product/{world['product'].pk}/change/",
    ):
        boss.visit(path)
    boss.visit("/api/docs/")
    boss.page.locator(".opblock").first.wait_for()  # Swagger UI rendered the schema
    boss.check("/api/docs/ rendered")
    boss.close()

    assert mia.violations == {}, mia.violations
    assert boss.violations == {}, boss.violations
    assert mia.errors == []
    assert boss.errors == []
