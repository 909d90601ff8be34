"""A live session's cover is stored only as an image we re-encoded, under a name we chose."""

import pytest
from django.urls import reverse

from live.models import LiveSession
from shops.tests.upload_support import assert_stored_safely, polyglot, truncated_png

pytestmark = pytest.mark.django_db


def schedule(client, cover):
    return client.post(
        reverse("live:schedule"),
        {"title": "Sunday sale", "scheduled_at": "2099-01-01T10:00", "cover": cover},
    )


def test_a_cover_polyglot_is_stored_only_as_our_re_encoded_image(client, shop):
    client.force_login(shop.owner)
    response = schedule(client, polyglot("cover.html"))
    assert response.status_code == 302
    assert_stored_safely(LiveSession.objects.get().cover)


def test_a_truncated_cover_is_refused_with_a_clear_error(client, shop):
    client.force_login(shop.owner)
    response = schedule(client, truncated_png())
    assert response.status_code == 400
    assert "The image file is incomplete or damaged" in response.content.decode()
    assert not LiveSession.objects.exists()
