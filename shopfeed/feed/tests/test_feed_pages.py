"""The feed's pages: the home page is the feed, the product grid stays a click away, settings
switch personalisation, and a page states how For You ranks."""

import pytest
from django.urls import reverse

from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.feed.models import FeedPreference
from shopfeed.feed.tests.factories import VideoFactory

from .watching_support import feed_store  # noqa: F401

pytestmark = pytest.mark.django_db


def test_the_home_page_is_the_feed_and_links_the_product_grid(client):
    body = client.get("/").content.decode()
    assert 'id="feed-root"' in body
    assert 'data-tab="for-you"' in body
    assert f'href="{reverse("shops:home")}"' in body
    assert client.get(reverse("shops:home")).status_code == 200


def test_a_videos_own_page_opens_the_feed_on_it(client):
    video = VideoFactory()
    body = client.get(f"/v/{video.pk}/").content.decode()
    assert f'data-start-video="{video.pk}"' in body
    assert client.get("/v/999999/").status_code == 404


def test_anonymous_visitors_are_told_the_feed_is_not_personalised(client):
    body = client.get("/", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9").content.decode()
    assert "Not personalised: popular in DE" in body


def test_following_asks_an_anonymous_visitor_to_log_in(client):
    response = client.get("/following/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_settings_switch_personalisation_off(client):
    user = UserFactory()
    client.force_login(user)
    assert client.get("/feed/settings/").status_code == 200
    response = client.post("/feed/settings/", {"region": "fr"})
    assert response.status_code == 302
    preference = FeedPreference.objects.get(user=user)
    assert (preference.personalised, preference.region) == (False, "FR")
    bad = client.post("/feed/settings/", {"personalised": "on", "region": "F1"})
    assert bad.status_code == 400
    assert "two-letter country code" in bad.content.decode()


def test_the_ranking_parameters_page_states_the_weights(client):
    body = client.get("/feed/how-it-works/").content.decode()
    for phrase in ("creators you follow", "Similarity", "Rising", "fair first audience",
                   "Popular in your region", "switch personalisation off"):  # fmt: skip
        assert phrase in body


def test_staff_can_review_and_delete_comments_in_the_admin(client):
    from shopfeed.feed.engagement.services import add_comment
    from shopfeed.feed.models import VideoComment

    staff = UserFactory(is_staff=True, is_superuser=True)
    video = VideoFactory()
    comment = add_comment(author=UserFactory(), video=video, text="Rude words")
    client.force_login(staff)
    for path in ("videocomment", "videoview", "feedpreference", "videopurchase"):
        assert client.get(f"/admin/feed/{path}/").status_code == 200
    response = client.post(
        "/admin/feed/videocomment/",
        {"action": "delete_comments", "_selected_action": [comment.pk]},
    )
    assert response.status_code == 302
    assert not VideoComment.objects.exists()
    video.refresh_from_db()
    assert video.comment_count == 0
