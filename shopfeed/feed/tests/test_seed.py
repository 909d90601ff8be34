"""`make seed`'s demo videos: what a new developer sees on the feed after `make run`."""

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management import call_command
from rest_framework.test import APIClient

from shopfeed.feed.models import Video
from shops.models import Product

from .watching_support import feed_store  # noqa: F401

pytestmark = pytest.mark.django_db


def _stored(url: str) -> str:
    assert url.startswith(settings.MEDIA_URL), url
    name = url.removeprefix(settings.MEDIA_URL)
    assert default_storage.exists(name), name
    assert default_storage.size(name) > 0, name
    return name


def test_the_demo_feed_is_six_playable_videos_each_with_a_product_card():
    call_command("seed_demo")
    call_command("seed_feed_demo")
    call_command("seed_feed_demo")  # `make run` seeds on every start: nothing twice

    assert Video.objects.count() == 6
    page = APIClient().get("/api/v1/feed/for-you/?size=10").json()
    videos = page["results"]
    assert len(videos) == 6
    assert {v["creator"]["handle"] for v in videos} == {"mia", "leo", "ava"}
    demo_clip = (settings.BASE_DIR / "static" / "video" / "demo-live.mp4").read_bytes()
    for video in videos:
        with default_storage.open(_stored(video["mp4_url"])) as clip:
            assert clip.read() == demo_clip  # the MP4 the live demo plays too
        _stored(video["poster_url"])
        (card,) = video["products"]
        product = Product.objects.get(pk=card["id"])
        assert product.shop.owner.handle == video["creator"]["handle"]
        assert product.status == Product.Status.ACTIVE
        assert card["variants"]
        assert card["variants"][0]["price_amount"] > 0
