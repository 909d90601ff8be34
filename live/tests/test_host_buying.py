"""The live page's buy step says what is wrong before (or with) the address form: the host
cannot buy from their own shop, so their live page offers no "Buy now" (host controls
instead) and the buy page says so up front; a sold-out item is said before any form; a default
address that its country would not take comes back as a form to fix."""

import json
import re

import pytest
from django.urls import reverse

from live.models import LiveSession
from orders.models import Address, Checkout

from .selling_support import live_session, product_with_variant

pytestmark = pytest.mark.django_db

OWN_SHOP = "your own shop"


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
    session = live_session(shop, stock[0])
    LiveSession.objects.filter(pk=session.pk).update(pinned_product=stock[0])
    return session


def _client_config(response) -> dict:
    match = re.search(
        r'<script id="live-client" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    return json.loads(match.group(1))


def _buy_url(session) -> str:
    return reverse("live:buy", kwargs={"pk": session.pk})


def test_the_hosts_own_live_page_offers_no_buy_now(client, session, creator):
    client.force_login(creator)
    response = client.get(reverse("live:watch", kwargs={"pk": session.pk}))
    assert response.status_code == 200
    assert _client_config(response)["can_buy"] is False
    assert "Host controls" in response.content.decode()


def test_a_viewers_live_page_offers_buy_now(client, session, shopper):
    client.force_login(shopper)
    response = client.get(reverse("live:watch", kwargs={"pk": session.pk}))
    assert _client_config(response)["can_buy"] is True


def test_the_host_opening_the_buy_page_is_told_at_once_without_an_address_form(
    client, session, creator
):
    client.force_login(creator)
    response = client.get(_buy_url(session))
    body = response.content.decode()
    assert response.status_code == 403
    assert OWN_SHOP in body
    assert 'name="address_form"' not in body
    assert 'name="line1"' not in body


def test_the_host_tapping_buy_without_a_saved_address_is_refused_before_the_address_form(
    client, session, stock, creator
):
    client.force_login(creator)
    response = client.post(_buy_url(session), {"variant_id": stock[1].pk, "quantity": 1})
    body = response.content.decode()
    assert response.status_code == 403
    assert OWN_SHOP in body
    assert "Where should we ship it?" not in body
    assert 'name="line1"' not in body
    assert not Address.objects.filter(user=creator).exists()
    assert not Checkout.objects.exists()


def test_a_viewer_is_told_of_a_sold_out_item_before_the_address_form(
    client, session, stock, shopper
):
    type(stock[1]).objects.filter(pk=stock[1].pk).update(quantity=0)
    client.force_login(shopper)
    response = client.post(_buy_url(session), {"variant_id": stock[1].pk, "quantity": 1})
    body = response.content.decode()
    assert response.status_code == 409
    assert "sold out" in body
    assert 'name="line1"' not in body


def test_a_viewer_opening_the_buy_page_is_sent_back_to_the_live(client, session, shopper):
    client.force_login(shopper)
    response = client.get(_buy_url(session))
    assert response.status_code == 302
    assert response["Location"] == reverse("live:watch", kwargs={"pk": session.pk})


def test_a_default_address_saved_before_the_country_checks_is_asked_again_with_the_reason(
    client, session, stock, shopper
):
    Address.objects.create(
        user=shopper, full_name="Sam", line1="1 Main St", city="Springfield",
        postal_code="12345", country="US", is_default=True,
    )  # fmt: skip
    client.force_login(shopper)
    response = client.post(_buy_url(session), {"variant_id": stock[1].pk, "quantity": 1})
    body = response.content.decode()
    assert response.status_code == 400
    assert "Enter the state." in body
    assert 'name="region"' in body
    assert 'value="1 Main St"' in body
    assert not Checkout.objects.exists()
