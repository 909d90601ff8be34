"""The home page shows who is live right now, linking to each live."""

import pytest
from django.urls import reverse
from django.utils import timezone

from live.models import LiveSession
from shopfeed.accounts.models import Follow
from shops.models import Shop
from shops.tests.factories import ShopFactory

pytestmark = pytest.mark.django_db


def live_session(shop, title, status=LiveSession.Status.LIVE):
    now = timezone.now()
    return LiveSession.objects.create(
        host=shop.owner,
        shop=shop,
        title=title,
        scheduled_at=now,
        status=status,
        started_at=now if status == LiveSession.Status.LIVE else None,
    )


def test_home_shows_a_live_session_title_and_link(client, shop):
    session = live_session(shop, "Friday haul, live")
    body = client.get(reverse("shops:home")).content.decode()
    assert "Live now" in body
    assert "Friday haul, live" in body
    assert f'href="{reverse("live:watch", kwargs={"pk": session.pk})}"' in body


def test_home_leaves_out_scheduled_ended_and_suspended_shops_sessions(client, shop):
    live_session(shop, "Tomorrow's drop", status=LiveSession.Status.SCHEDULED)
    live_session(shop, "Yesterday's drop", status=LiveSession.Status.ENDED)
    suspended = ShopFactory(
        status=Shop.Status.SUSPENDED, suspended_reason="Fakes", suspended_at=timezone.now()
    )
    live_session(suspended, "Suspended shop live")
    body = client.get(reverse("shops:home")).content.decode()
    assert "Tomorrow's drop" not in body
    assert "Yesterday's drop" not in body
    assert "Suspended shop live" not in body
    assert 'aria-labelledby="live-now-title"' not in body


def test_home_puts_followed_creators_first_for_a_signed_in_viewer(client, shopper):
    first, followed = ShopFactory(), ShopFactory()
    live_session(first, "Started first")
    live_session(followed, "By someone I follow")
    Follow.objects.create(follower=shopper, creator=followed.owner)
    client.force_login(shopper)
    body = client.get(reverse("shops:home")).content.decode()
    assert body.index("By someone I follow") < body.index("Started first")
