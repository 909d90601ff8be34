"""Stock moved by orders (a checkout, its release, the flash writer) shows on the creator's
cached shopping tab at the next request (shops/tab_cache.py)."""

import pytest
from rest_framework.test import APIClient

from orders.checkout.services import LineRequest, release_checkout, start_checkout
from orders.flash import services as flash
from orders.flash import writer
from shops.tests.factories import VariantFactory

from .factories import ADDRESS

pytestmark = pytest.mark.django_db


def _card(variant) -> dict:
    url = f"/api/v1/creators/{variant.shop.owner.handle}/shopping-tab/"
    (card,) = APIClient().get(url).json()["results"]
    return card


def test_a_sale_and_its_release_show_in_the_stock_on_the_next_request(
    shopper, django_capture_on_commit_callbacks
):
    variant = VariantFactory(quantity=2)
    assert _card(variant)["stock_state"] == "low_stock"
    with django_capture_on_commit_callbacks(execute=True):
        checkout = start_checkout(
            buyer=shopper, lines=[LineRequest(variant.pk, 2)], address=ADDRESS
        )
    assert (_card(variant)["in_stock"], _card(variant)["stock_state"]) == (False, "sold_out")
    with django_capture_on_commit_callbacks(execute=True):
        release_checkout(checkout_id=checkout.pk)
    assert _card(variant)["in_stock"] is True


def test_the_flash_writers_stock_shows_on_the_next_request(
    flash_redis, shopper, django_capture_on_commit_callbacks
):
    variant = VariantFactory(quantity=1, flash_sale=True)
    assert _card(variant)["in_stock"] is True
    flash.reserve(buyer=shopper, line=LineRequest(variant.pk, 1), address=ADDRESS)
    with django_capture_on_commit_callbacks(execute=True):
        writer.drain(consumer="test")
    assert _card(variant)["in_stock"] is False
