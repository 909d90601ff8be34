"""Likes, comments, shares, follows, "not interested", watch events and feed settings through
the feed API, as the page and apps call it (PostgreSQL, the shared Redis rate limits)."""

import json
import uuid

import pytest
from rest_framework.test import APIClient

from shopfeed.accounts.models import Follow
from shopfeed.accounts.tests.factories import CreatorFactory, UserFactory
from shopfeed.feed.models import FeedPreference, Video, VideoComment, VideoLike, VideoView
from shopfeed.feed.tests.factories import VideoFactory, VideoProductFactory
from shops.tests.factories import VariantFactory

from .watching_support import feed_store  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def viewer():
    return UserFactory()


@pytest.fixture
def api(viewer):
    client = APIClient(enforce_csrf_checks=True)
    client.force_authenticate(viewer)
    return client


@pytest.fixture
def video():
    return VideoFactory(duration_ms=10_000)


def session_client(user) -> tuple[APIClient, str]:
    """A browser-like client: session cookie, CSRF enforced, and the token the page holds."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/")  # the page sets the CSRF cookie
    return client, client.cookies["csrftoken"].value


def event(video, view_id, **figures):
    return {"view_id": str(view_id), "video": video.pk, "watch_ms": 0, **figures}


# --- watch events ------------------------------------------------------------------------------


def test_a_view_is_counted_once_however_many_batches_report_it(api, video):
    view_id = uuid.uuid4()
    for watch_ms in (1000, 4000, 4000):
        response = api.post(
            "/api/v1/feed/watch-events/",
            {"events": [event(video, view_id, watch_ms=watch_ms)]},
            format="json",
        )
        assert response.status_code == 200
    api.post(
        "/api/v1/feed/watch-events/",
        {"events": [event(video, uuid.uuid4(), watch_ms=500)]},
        format="json",
    )
    video.refresh_from_db()
    assert video.view_count == 2
    view = VideoView.objects.get(view_token=view_id)
    assert view.watch_ms == 4000
    assert not view.completed


def test_a_view_watched_through_or_replayed_is_completed(api, video):
    through, looped = uuid.uuid4(), uuid.uuid4()
    response = api.post(
        "/api/v1/feed/watch-events/",
        {
            "events": [
                event(video, through, watch_ms=9_500),
                event(video, looped, watch_ms=3_000, replays=2),
            ]
        },
        format="json",
    )
    assert response.json() == {"views_started": 2}
    assert VideoView.objects.get(view_token=through).completed
    assert VideoView.objects.get(view_token=looped).replays == 2


def test_the_pages_beacon_form_is_accepted_with_its_csrf_token(viewer, video):
    client, token = session_client(viewer)
    body = {"events": json.dumps([event(video, uuid.uuid4(), watch_ms=2000)])}
    refused = client.post("/api/v1/feed/watch-events/", body)
    assert refused.status_code == 403
    assert VideoView.objects.count() == 0
    accepted = client.post("/api/v1/feed/watch-events/", {**body, "csrfmiddlewaretoken": token})
    assert accepted.status_code == 200
    assert VideoView.objects.get().viewer == viewer


@pytest.mark.parametrize(
    "events",
    [
        "not json",
        [{"view_id": "nope", "video": 1, "watch_ms": 1}],
        [{"view_id": str(uuid.uuid4()), "video": 1, "watch_ms": -5}],
        [{"view_id": str(uuid.uuid4()), "video": 1, "watch_ms": 1}] * 51,
    ],
)
def test_bad_watch_batches_are_refused_and_change_nothing(api, video, events):
    if isinstance(events, list):
        for e in events:
            e["video"] = video.pk
    response = api.post(
        "/api/v1/feed/watch-events/",
        {"events": events},
        format="json" if isinstance(events, list) else "multipart",
    )
    assert response.status_code == 400
    assert VideoView.objects.count() == 0
    video.refresh_from_db()
    assert video.view_count == 0


def test_someone_elses_view_cannot_be_rewritten(api, video):
    view_id = uuid.uuid4()
    api.post(
        "/api/v1/feed/watch-events/",
        {"events": [event(video, view_id, watch_ms=1000)]},
        format="json",
    )
    other = APIClient()
    other.force_authenticate(UserFactory())
    other.post(
        "/api/v1/feed/watch-events/",
        {"events": [event(video, view_id, watch_ms=9000, completed=True)]},
        format="json",
    )
    view = VideoView.objects.get(view_token=view_id)
    assert (view.watch_ms, view.completed) == (1000, False)


def test_watch_batches_are_bounded_per_user(api, video, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                                   "feed_watch": "2/min"},
    }  # fmt: skip
    codes = [
        api.post(
            "/api/v1/feed/watch-events/",
            {"events": [event(video, uuid.uuid4(), watch_ms=100)]},
            format="json",
        ).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]
    video.refresh_from_db()
    assert video.view_count == 2


# --- likes, comments, shares, follows ----------------------------------------------------------


def test_liking_twice_counts_once_and_unliking_takes_it_back(api, video):
    assert api.post(f"/api/v1/feed/videos/{video.pk}/like/").json()["like_count"] == 1
    again = api.post(f"/api/v1/feed/videos/{video.pk}/like/").json()
    assert (again["like_count"], again["liked"]) == (1, True)
    gone = api.delete(f"/api/v1/feed/videos/{video.pk}/like/").json()
    assert (gone["like_count"], gone["liked"]) == (0, False)
    assert VideoLike.objects.count() == 0


def test_an_anonymous_visitor_cannot_like(video):
    response = APIClient().post(f"/api/v1/feed/videos/{video.pk}/like/")
    assert response.status_code == 403
    video.refresh_from_db()
    assert video.like_count == 0


def test_a_hidden_video_cannot_be_liked(api):
    hidden = VideoFactory(moderation=Video.Moderation.HIDDEN, hidden_reason="Spam")
    assert api.post(f"/api/v1/feed/videos/{hidden.pk}/like/").status_code == 404


def test_a_comment_with_a_blocked_word_is_refused(api, video, settings):
    settings.BLOCKED_WORDS = ["scam"]
    response = api.post(
        f"/api/v1/feed/videos/{video.pk}/comments/", {"text": "What a SCAM this is"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "blocked_word"
    assert "scam" in response.json()["detail"]
    assert VideoComment.objects.count() == 0
    video.refresh_from_db()
    assert video.comment_count == 0


def test_a_comment_is_posted_and_listed(api, video, viewer):
    response = api.post(
        f"/api/v1/feed/videos/{video.pk}/comments/", {"text": "  Love it  "}, format="json"
    )
    assert response.status_code == 201
    listed = APIClient().get(f"/api/v1/feed/videos/{video.pk}/comments/").json()["results"]
    assert listed == [
        {
            "id": response.json()["id"],
            "author": viewer.handle,
            "text": "Love it",
            "created_at": listed[0]["created_at"],
        }
    ]
    video.refresh_from_db()
    assert video.comment_count == 1


def test_comments_are_rate_limited(api, video, settings):
    settings.FEED_COMMENT_RATE = 2
    codes = [
        api.post(
            f"/api/v1/feed/videos/{video.pk}/comments/", {"text": f"n{i}"}, format="json"
        ).status_code
        for i in range(3)
    ]
    assert codes == [201, 201, 429]
    assert VideoComment.objects.count() == 2


def test_a_too_long_comment_is_refused(api, video, settings):
    settings.FEED_COMMENT_MAX_LENGTH = 10
    response = api.post(
        f"/api/v1/feed/videos/{video.pk}/comments/", {"text": "x" * 11}, format="json"
    )
    assert response.status_code == 400
    assert VideoComment.objects.count() == 0


def test_a_share_is_counted_once_per_viewer(api, video):
    for _ in range(2):
        assert api.post(f"/api/v1/feed/videos/{video.pk}/share/").status_code == 200
    assert APIClient().post(f"/api/v1/feed/videos/{video.pk}/share/").status_code == 200
    video.refresh_from_db()
    assert video.share_count == 1


def test_follow_and_unfollow_a_creator(api, viewer):
    creator = CreatorFactory()
    assert api.post(f"/api/v1/feed/creators/{creator.handle}/follow/").json() == {"following": True}
    assert Follow.objects.filter(follower=viewer, creator=creator).exists()
    api.delete(f"/api/v1/feed/creators/{creator.handle}/follow/")
    assert not Follow.objects.exists()
    own = api.post(f"/api/v1/feed/creators/{viewer.handle}/follow/")
    assert own.status_code == 400


# --- feeds -------------------------------------------------------------------------------------


def test_following_is_the_followed_creators_videos_newest_first(api, viewer):
    from datetime import timedelta

    from django.utils import timezone

    creator = CreatorFactory()
    Follow.objects.create(follower=viewer, creator=creator)
    now = timezone.now()
    old = VideoFactory(creator=creator, publish_at=now - timedelta(days=2))
    new = VideoFactory(creator=creator, publish_at=now - timedelta(hours=1))
    VideoFactory()  # someone not followed
    ids = [v["id"] for v in api.get("/api/v1/feed/following/").json()["results"]]
    assert ids == [new.pk, old.pk]


def test_search_finds_a_hashtag_exactly_and_words_in_captions(api):
    pasta = VideoFactory(caption="Fresh pasta at home", hashtags=["cooking"])
    VideoFactory(caption="Cooking shoes?", hashtags=["fashion"])
    tagged = [v["id"] for v in api.get("/api/v1/feed/search/", {"q": "#Cooking"}).json()["results"]]
    assert tagged == [pasta.pk]
    words = [v["id"] for v in api.get("/api/v1/feed/search/", {"q": "pasta"}).json()["results"]]
    assert words == [pasta.pk]
    assert api.get("/api/v1/feed/search/", {"q": ""}).status_code == 400


def test_switching_personalisation_off_gives_the_regional_feed(api, video):
    response = api.put(
        "/api/v1/feed/settings/", {"personalised": False, "region": "de"}, format="json"
    )
    assert response.json() == {"personalised": False, "region": "DE"}
    page = api.get("/api/v1/feed/for-you/").json()
    assert (page["personalised"], page["region"]) == (False, "DE")
    assert (
        api.put(
            "/api/v1/feed/settings/", {"personalised": True, "region": "D1"}, format="json"
        ).status_code
        == 400
    )
    assert FeedPreference.objects.get().region == "DE"


def _tagged_videos(n: int):
    for _ in range(n):
        tag = VideoProductFactory()
        VariantFactory(product=tag.product)
        VariantFactory(product=tag.product)


@pytest.mark.parametrize("path", ["/api/v1/feed/for-you/?size=30", "/api/v1/feed/following/"])
def test_feed_pages_take_the_same_queries_for_3_or_12_videos(
    api, viewer, path, django_assert_max_num_queries
):
    def measure():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from shopfeed.feed.ranking import store

        store.flush_all()
        with CaptureQueriesContext(connection) as ctx:
            response = api.get(path)
        assert response.status_code == 200
        return len(ctx.captured_queries), len(response.json()["results"])

    _tagged_videos(3)
    for creator_id in Video.objects.values_list("creator_id", flat=True):
        Follow.objects.get_or_create(follower=viewer, creator_id=creator_id)
    few, shown_few = measure()
    _tagged_videos(9)
    for creator_id in Video.objects.values_list("creator_id", flat=True):
        Follow.objects.get_or_create(follower=viewer, creator_id=creator_id)
    many, shown_many = measure()
    assert (shown_few, shown_many) == (3, 10 if "following" in path else 12)
    assert many == few
    with django_assert_max_num_queries(few):
        api.get(path)


def test_a_feed_item_shows_its_products_with_their_variants(api):
    tag = VideoProductFactory()
    variant = VariantFactory(product=tag.product, price_amount=2500)
    item = api.get(f"/api/v1/feed/videos/{tag.video_id}/").json()
    assert item["products"][0]["title"] == tag.product.title
    assert item["products"][0]["variants"] == [
        {"id": variant.pk, "label": variant.label, "price_amount": 2500,
         "currency": variant.currency, "in_stock": True}
    ]  # fmt: skip
    assert item["share_url"].endswith(f"/v/{tag.video_id}/")


def test_an_anonymous_for_you_page_is_rendered_once_for_a_crowd(django_assert_num_queries):
    from rest_framework.test import APIClient

    VideoFactory()
    first = APIClient().get("/api/v1/feed/for-you/").json()
    with django_assert_num_queries(0):
        again = APIClient().get("/api/v1/feed/for-you/").json()
    assert again == first
    assert first["personalised"] is False
