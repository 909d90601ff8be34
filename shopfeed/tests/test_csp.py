"""Content-Security-Policy on every page, and pages that need nothing inline to work.

The policy allows scripts and styles from our own origin only (plus Stripe.js where the
checkout loads it), so a template with an inline <script>, <style>, style="" or on*="" would
break under it. The browser check is test_csp_browser.py.
"""

from html.parser import HTMLParser

import pytest
from django.test import Client

from live.tests.selling_support import live_session
from shopfeed.accounts.tests.factories import CreatorFactory, UserFactory
from shops.tests.factories import ProductFactory, ProductImageFactory, ShopFactory, VariantFactory

pytestmark = pytest.mark.django_db


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


class InlineFinder(HTMLParser):
    """Whatever a strict policy would block: inline scripts, styles and event handlers."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and not attrs.get("src") and attrs.get("type") != "application/json":
            self.found.append(f"inline <script> at line {self.getpos()[0]}")
        if tag == "style":
            self.found.append(f"<style> at line {self.getpos()[0]}")
        for name in attrs:
            if name == "style" or name.startswith("on"):
                self.found.append(f'{name}="" on <{tag}> at line {self.getpos()[0]}')


def inline_code(html: str) -> list[str]:
    finder = InlineFinder()
    finder.feed(html)
    return finder.found


@pytest.fixture
def world(db):
    creator = CreatorFactory(username="mia", handle="mia")
    shop = ShopFactory(owner=creator)
    product = ProductFactory(shop=shop, title="Linen Shirt", handle="linen-shirt")
    VariantFactory(product=product, option1="S", price_amount=3900, quantity=3)
    VariantFactory(product=product, option1="M", price_amount=4200, quantity=0)
    ProductImageFactory(product=product)
    ProductImageFactory(product=product)
    session = live_session(shop, product)
    shopper = UserFactory(username="sam", handle="sam")
    staff = UserFactory(username="boss", handle="boss", is_staff=True, is_superuser=True)
    return {"creator": creator, "product": product, "session": session, "shopper": shopper,
            "staff": staff}  # fmt: skip


def pages(world):
    product, session = world["product"], world["session"]
    anonymous = [
        "/", "/search/?q=linen", "/@mia/", "/@mia/products/linen-shirt/", "/accounts/login/",
        "/accounts/signup/", "/live/", f"/live/{session.pk}/", "/api/docs/",
    ]  # fmt: skip
    shopper = [
        "/@mia/products/linen-shirt/", "/cart/", "/orders/", f"/live/{session.pk}/",
        "/gifts/settings/",
    ]  # fmt: skip
    creator = [
        "/dashboard/", "/dashboard/products/", "/dashboard/products/new/",
        f"/dashboard/products/{product.pk}/", "/dashboard/tab/", "/dashboard/import/",
        "/dashboard/orders/", "/dashboard/payouts/", "/live/studio/", "/live/studio/new/",
        f"/live/studio/{session.pk}/", f"/live/{session.pk}/", "/dashboard/gifts/",
    ]  # fmt: skip
    staff = [
        "/admin/", "/admin/orders/order/", "/admin/shops/product/",
        f"/admin/shops/product/{product.pk}/change/", "/admin/live/livesession/",
        "/admin/gifts/gift/", "/admin/gifts/gift/add/", "/admin/gifts/coinwallet/",
        "/admin/gifts/giftingprofile/",
    ]  # fmt: skip
    return [(None, anonymous), ("shopper", shopper), ("creator", creator), ("staff", staff)]


def test_every_page_sends_a_strict_policy_and_has_nothing_inline(world):
    problems = {}
    for who, paths in pages(world):
        client = Client()
        if who:
            client.force_login(world[who])
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, path
            directives = policy(response)
            assert directives["default-src"] == ["'self'"], path
            for name in ("script-src", "style-src"):
                assert "'unsafe-inline'" not in directives[name], (path, name)
                assert "'unsafe-eval'" not in directives[name], (path, name)
            assert directives["object-src"] == ["'none'"]
            assert directives["frame-ancestors"] == ["'none'"]
            found = inline_code(response.content.decode())
            if found:
                problems[f"{who or 'anonymous'} {path}"] = found
    assert not problems, "\n".join(f"{page}: {found}" for page, found in problems.items())


def test_the_live_page_may_open_a_socket_to_its_own_host(world, settings):
    settings.ALLOWED_HOSTS = ["shop.example"]
    response = Client().get(f"/live/{world['session'].pk}/", HTTP_HOST="shop.example:8000")

    connect = policy(response)["connect-src"]
    assert "ws://shop.example:8000" in connect
    assert "wss://shop.example:8000" in connect


def test_the_live_page_may_play_from_the_media_server(world, settings):
    settings.LIVE_HLS_URL = "https://media.example/hls"

    directives = policy(Client().get(f"/live/{world['session'].pk}/"))

    assert "https://media.example" in directives["media-src"]
    assert "https://media.example" in directives["connect-src"]


def test_stripe_js_and_its_frames_are_allowed_where_configured(world, settings):
    settings.STRIPE_JS_URL = "https://js.stripe.com/v3/"

    directives = policy(Client().get("/"))

    assert "https://js.stripe.com" in directives["script-src"]
    assert "https://js.stripe.com" in directives["frame-src"]
    assert "https://hooks.stripe.com" in directives["frame-src"]
    assert "https://api.stripe.com" in directives["connect-src"]


def test_localstripe_is_allowed_in_development(world, settings):
    settings.STRIPE_JS_URL = "http://127.0.0.1:8420/js.stripe.com/v3/"

    directives = policy(Client().get("/"))

    assert "http://127.0.0.1:8420" in directives["script-src"]
    assert "http://127.0.0.1:8420" in directives["connect-src"]
    assert "https://js.stripe.com" not in directives["script-src"]


def test_api_responses_carry_the_policy_too(world):
    assert policy(Client().get("/api/v1/products/"))["default-src"] == ["'self'"]
