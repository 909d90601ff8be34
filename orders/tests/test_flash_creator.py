"""A creator prepares a hot drop: marking a variant for flash sale where listings are managed
(the API here; the product form in shops/tests/test_dashboard.py) puts it on the flash path
at once, and a stock the creator sets later is the one buyers reserve against."""

import pytest
from rest_framework.test import APIClient

from orders.checkout.services import LineRequest
from orders.errors import SoldOut
from orders.flash import services as flash
from orders.flash import store, writer
from shopfeed.errors import ShopFeedError
from shops.tests.factories import VariantFactory

from .factories import ADDRESS
from .flash_support import buyers_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _patch(variant, body, django_capture_on_commit_callbacks):
    client = APIClient()
    client.force_authenticate(variant.shop.owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.patch(
            f"/api/v1/products/{variant.product_id}/variants/{variant.pk}/", body, format="json"
        )
    assert response.status_code == 200, response.content


def _reserve(buyer, variant):
    return flash.reserve(buyer=buyer, line=LineRequest(variant.pk, 1), address=ADDRESS)


def test_a_variant_the_creator_marks_for_flash_sale_is_reserved_in_redis_with_its_limit(
    flash_redis, django_capture_on_commit_callbacks
):
    variant = VariantFactory(quantity=5)
    first, second = buyers_for(2)
    _patch(variant, {"flash_sale": True, "flash_limit_per_buyer": 1},
           django_capture_on_commit_callbacks)  # fmt: skip

    assert flash_redis.get(store.k("stock", variant.pk)) == "5"  # primed when it committed
    assert isinstance(_reserve(first, variant), flash.Reservation)
    with pytest.raises(ShopFeedError) as refused:
        _reserve(first, variant)
    assert refused.value.code == "flash_limit"
    variant.refresh_from_db()
    assert variant.quantity == 5  # the row is not touched until the writer writes the batch
    writer.drain(consumer="test")
    variant.refresh_from_db()
    assert variant.quantity == 4
    assert isinstance(_reserve(second, variant), flash.Reservation)


def test_a_stock_the_creator_sets_on_a_flash_variant_is_what_buyers_can_reserve(
    flash_redis, django_capture_on_commit_callbacks
):
    variant = VariantFactory(quantity=5)
    a, b, c = buyers_for(3)
    _patch(variant, {"flash_sale": True}, django_capture_on_commit_callbacks)
    _reserve(a, variant)
    writer.drain(consumer="test")

    _patch(variant, {"quantity": 1}, django_capture_on_commit_callbacks)

    assert isinstance(_reserve(b, variant), flash.Reservation)
    with pytest.raises(SoldOut):
        _reserve(c, variant)
    writer.drain(consumer="test")
    variant.refresh_from_db()
    assert variant.quantity == 0
