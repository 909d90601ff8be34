import json

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction

from gifts.models import Gift

from .factories import GiftFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("coins", [0, 50_001])
def test_a_gift_costs_between_1_and_50000_coins(coins):
    with pytest.raises(IntegrityError), transaction.atomic():
        GiftFactory(coins=coins)


def test_a_gift_image_is_stored_as_our_own_re_encoded_copy():
    gift = GiftFactory()
    assert gift.image.name.startswith("gifts/")
    assert gift.image.name.endswith(".png")
    assert "gift.png" not in gift.image.name


def _lottie(**extra):
    body = {"v": "5.7.4", "fr": 30, "layers": [], **extra}
    return SimpleUploadedFile("a.json", json.dumps(body).encode(), "application/json")


def test_a_lottie_animation_passes_validation_and_markup_does_not():
    gift = GiftFactory.build(animation=_lottie())
    gift.full_clean(exclude=["image", "slug"])
    for bad in (b"<script>alert(1)</script>", b"[1, 2]", b'{"v": "5"}'):
        gift = GiftFactory.build(animation=SimpleUploadedFile("a.json", bad))
        with pytest.raises(ValidationError) as err:
            gift.full_clean(exclude=["image", "slug"])
        assert "animation" in err.value.message_dict


def test_a_deeply_nested_animation_is_refused():
    deep = {"v": "5", "layers": []}
    node = deep
    for _ in range(100):
        node["x"] = {}
        node = node["x"]
    gift = GiftFactory.build(animation=SimpleUploadedFile("a.json", json.dumps(deep).encode()))
    with pytest.raises(ValidationError, match="nested too deeply"):
        gift.full_clean(exclude=["image", "slug"])


def test_gifts_are_listed_in_their_sort_order_then_by_price():
    b = GiftFactory(coins=5, sort_order=1)
    a = GiftFactory(coins=99, sort_order=0)
    c = GiftFactory(coins=1, sort_order=1)
    assert list(Gift.objects.all()) == [a, c, b]
