"""The shopper pages of shops.views (a creator profile with its shopping tab, a product page)
served through the cache (PostgreSQL + Redis): shared parts come from the cache, each viewer
still sees only their own header, cart and buy box, and a write that changes a card (or a live
session on the profile) shows on the next request. Here, above shops, since the writes come
from orders' checkout and live's sessions."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from live.stream import services as sessions
from orders.checkout import stock
from shopfeed.accounts.tests.factories import UserFactory
from shops import services
from shops.money import format_money
from shops.tests.factories import ProductFactory, VariantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def product(shop):
    item = ProductFactory(shop=shop, title="Glow lamp")
    VariantFactory(product=item, price_amount=1500, quantity=10)
    return item


@pytest.fixture
def alice(db):
    return UserFactory(handle="alice", username="alice")


@pytest.fixture
def bob(db):
    return UserFactory(handle="bob", username="bob")


def profile_url(shop):
    return reverse("shops:profile", kwargs={"handle": shop.owner.handle})


def product_url(item):
    return reverse(
        "shops:product-detail", kwargs={"handle": item.shop.owner.handle, "product": item.handle}
    )


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def warm(client, *urls):
    """Twice: the first visit to a creator teaches the cache their shop, the second stores."""
    for url in urls:
        page(client, url)
        page(client, url)


def test_each_viewer_sees_only_their_own_name_and_cart_on_cached_pages(client, alice, bob, product):
    variant = product.variants.get()
    as_alice, as_bob = signed_in(alice), signed_in(bob)
    added = as_alice.post(reverse("orders:cart-add"), {"variant_id": variant.pk, "quantity": 2})
    assert added.status_code == 302
    urls = (profile_url(product.shop), product_url(product))
    warm(client, *urls)  # the anonymous visits fill the cache first
    for url in urls:
        alices, bobs, anons = page(as_alice, url), page(as_bob, url), page(client, url)
        assert "@alice" in alices
        assert "@bob" not in alices
        assert "Cart (2)" in alices
        assert "@bob" in bobs
        assert "@alice" not in bobs
        assert "Cart (" not in bobs
        assert "Log in" in anons
        assert "@alice" not in anons
        assert "@bob" not in anons
        assert "Glow lamp" in alices
        assert "Glow lamp" in bobs
        assert "Glow lamp" in anons


def test_cached_product_page_keeps_the_buy_box_per_viewer(client, alice, product):
    url = product_url(product)
    warm(client, url)
    owner_page = page(signed_in(product.shop.owner), url)
    assert "This is your shop's product" in owner_page
    assert 'id="buy-form"' not in owner_page
    shopper_page = page(signed_in(alice), url)
    assert 'id="buy-form"' in shopper_page
    assert "This is your shop's product" not in shopper_page
    assert "csrfmiddlewaretoken" in shopper_page


def test_cache_hits_cost_few_queries(client, alice, product, django_assert_max_num_queries):
    as_alice = signed_in(alice)
    warm(as_alice, profile_url(product.shop), product_url(product))
    with django_assert_max_num_queries(2):  # session and user; the product is cached
        page(as_alice, product_url(product))
    with django_assert_max_num_queries(2):  # the profile's head and tab are cached too
        page(as_alice, profile_url(product.shop))
    warm(client, product_url(product), profile_url(product.shop))
    with django_assert_max_num_queries(0):  # an anonymous shopper: nothing from PostgreSQL
        page(client, product_url(product))
        page(client, profile_url(product.shop))


def _shown_on_both(client, item, text: str) -> bool:
    return text in page(client, profile_url(item.shop)) and text in page(client, product_url(item))


def test_price_change_shows_on_the_next_request(client, product):
    warm(client, profile_url(product.shop), product_url(product))
    services.save_variant(
        product=product, by=product.shop.owner, variant=product.variants.get(), price_amount=2750
    )
    new_price = format_money(2750, product.shop.currency)
    assert _shown_on_both(client, product, new_price)


def test_stock_change_shows_on_the_next_request(client, product):
    warm(client, profile_url(product.shop), product_url(product))
    assert "Sold out" not in page(client, product_url(product))
    variant = product.variants.get()
    stock.reserve(variant_id=variant.pk, quantity=10)  # the checkout's own reservation
    assert _shown_on_both(client, product, "Sold out")


def test_product_edit_shows_on_the_next_request(client, product):
    warm(client, profile_url(product.shop), product_url(product))
    services.update_product(product=product, by=product.shop.owner, title="Moon lamp")
    assert _shown_on_both(client, product, "Moon lamp")
    assert "Glow lamp" not in page(client, product_url(product))


def test_suspended_shop_disappears_on_the_next_request(client, product):
    warm(client, profile_url(product.shop), product_url(product))
    staff = UserFactory(is_staff=True)
    services.suspend_shop(shop=product.shop, reason="Counterfeit goods reported", by=staff)
    assert "This shop is unavailable" in page(client, profile_url(product.shop))
    assert "Glow lamp" not in page(client, profile_url(product.shop))
    assert client.get(product_url(product)).status_code == 404


def test_a_session_going_live_shows_on_the_next_profile_request(client, product):
    warm(client, profile_url(product.shop))
    assert "Tonight&#x27;s drop" not in page(client, profile_url(product.shop))
    session = sessions.schedule_session(
        host=product.shop.owner,
        title="Tonight's drop",
        scheduled_at=timezone.now() + timedelta(hours=1),
        product_ids=[product.pk],
    )
    sessions.go_live(session=session, by=product.shop.owner)
    assert "Tonight&#x27;s drop" in page(client, profile_url(product.shop))


def test_cached_tab_is_kept_per_query_and_per_htmx_partial(client, product):
    ProductFactory(shop=product.shop, title="Desk fan")
    url = profile_url(product.shop)
    warm(client, f"{url}?q=Glow", f"{url}?q=fan")
    glow, fan = page(client, f"{url}?q=Glow"), page(client, f"{url}?q=fan")
    assert "Glow lamp" in glow
    assert "Desk fan" not in glow
    assert "Desk fan" in fan
    assert "Glow lamp" not in fan
    partial = client.get(f"{url}?q=Glow", headers={"HX-Request": "true"}).content.decode()
    assert "Glow lamp" in partial
    assert "<html" not in partial
    assert "profile-head" not in partial
