"""Posting a video from the dashboard in a real browser at phone width: tus-js-client sends the
file in chunks to the real ASGI server, the progress bar runs, and the video lands on the
creator's list (processed inline here: the server runs Celery tasks eagerly)."""

import re

import pytest
from django.db import connection
from django.test import Client

from shopfeed.feed.models import Video, VideoUpload
from shopfeed.feed.tests import clips
from shopfeed.testing import csp_violations, watch_csp
from shops.tests.factories import ProductFactory

pytestmark = [
    pytest.mark.services,
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

CHUNK = 64 * 1024


@pytest.fixture
def site(tmp_path):
    from shopfeed.testing import asgi_site

    if connection.vendor != "postgresql":
        pytest.skip("the ASGI server shares the test database only on PostgreSQL")
    with asgi_site(
        tmp_path / "web.log",
        CELERY_TASK_ALWAYS_EAGER="true",
        VIDEO_UPLOAD_CHUNK_BYTES=str(CHUNK),
        VIDEO_UPLOAD_DIR=str(tmp_path / "uploads"),
    ) as url:
        yield url


def test_a_creator_posts_a_clip_from_a_phone_sized_dashboard(site, browser, tmp_path, shop):
    mug = ProductFactory(shop=shop, title="Stoneware mug")
    clip = clips.make_clip(tmp_path / "My clip.mp4")
    assert clip.stat().st_size > 2 * CHUNK  # several chunks

    client = Client()
    client.force_login(shop.owner)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": site}]
    )
    page = context.new_page()
    seen = watch_csp(page)
    patches = []
    page.on("request", lambda r: patches.append(r) if r.method == "PATCH" else None)
    page.goto(f"{site}/dashboard/videos/new/")
    page.set_input_files("#id_file", str(clip))
    page.wait_for_selector("#cover-picker:not([hidden])")
    page.fill("#id_cover", "2")
    page.fill("#id_caption", "Morning coffee in the new mug #coffee")
    page.check(f"input[name=products][value='{mug.pk}']")
    page.click("#upload-button")
    page.wait_for_url(re.compile(r"/dashboard/videos/(#video-\d+)?$"), timeout=60_000)

    assert len(patches) >= 3
    video = Video.objects.get()
    assert video.status == Video.Status.READY, video.failure_reason
    assert video.cover_offset_ms == 2000
    assert list(video.hashtags.values_list("name", flat=True)) == ["coffee"]
    assert list(video.tagged_products.values_list("product_id", flat=True)) == [mug.pk]
    assert not VideoUpload.objects.exists()
    assert page.locator(f"[data-video='{video.pk}'][data-status='ready']").count() == 1
    assert "Morning coffee in the new mug" in page.content()
    assert csp_violations(page, seen) == []
    context.close()


def test_a_refused_file_says_why_on_the_page(site, browser, tmp_path, shop):
    clip = clips.make_clip(tmp_path / "short.mp4", seconds=2)
    client = Client()
    client.force_login(shop.owner)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": site}]
    )
    page = context.new_page()
    page.goto(f"{site}/dashboard/videos/new/")
    page.set_input_files("#id_file", str(clip))
    page.click("#upload-button")
    page.wait_for_selector("#upload-error:not(:empty)", timeout=30_000)
    assert "at least 3 s" in page.inner_text("#upload-error")
    assert not Video.objects.exists()
    assert not VideoUpload.objects.exists()
    context.close()
