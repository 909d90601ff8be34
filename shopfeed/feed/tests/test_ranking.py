"""For You ranking on PostgreSQL + Redis with a small synthetic population: cooking fans and
fashion fans who watched their videos through, then viewers whose own watching should steer
their feed. Everything goes through the real services and the API."""

import time

import pytest
from django.test import Client

from shopfeed.accounts.services import follow
from shopfeed.accounts.tests.factories import CreatorFactory, UserFactory
from shopfeed.feed.engagement import services as engagement
from shopfeed.feed.models import Video
from shopfeed.feed.ranking import ranker, store
from shopfeed.feed.tests.factories import VideoFactory

from .watching_support import feed_store, for_you_ids, watch, watch_all  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def population():
    cooks = [CreatorFactory() for _ in range(3)]
    stylists = [CreatorFactory() for _ in range(4)]
    cooking = [
        VideoFactory(creator=cooks[i % 3], caption=f"Pasta {i}", hashtags=["cooking"])
        for i in range(12)
    ]
    fashion = [
        VideoFactory(creator=stylists[i % 4], caption=f"Outfit {i}", hashtags=["fashion"])
        for i in range(12)
    ]
    for _ in range(6):
        watch_all(UserFactory(), cooking, through=True)
        watch_all(UserFactory(), fashion, through=True)
    return {"cooking": cooking, "fashion": fashion, "cooks": cooks, "stylists": stylists}


def cooking_share(ids: list[int], cooking: list[Video]) -> int:
    cooking_ids = {v.pk for v in cooking}
    return sum(1 for vid in ids if vid in cooking_ids)


def test_a_viewer_who_watches_cooking_to_the_end_gets_more_cooking_than_one_who_skips_it(
    population,
):
    cooking = population["cooking"]
    finisher, skipper = UserFactory(), UserFactory()
    for video in cooking[:3]:
        watch(finisher, video, through=True)
        watch(skipper, video, through=False)

    finisher_feed = for_you_ids(signed_in(finisher), size=10)
    skipper_feed = for_you_ids(signed_in(skipper), size=10)

    assert len(finisher_feed) == len(skipper_feed) == 10
    assert cooking_share(finisher_feed, cooking) >= 7
    assert cooking_share(skipper_feed, cooking) <= 3
    # What they already watched is not served again.
    assert not {v.pk for v in cooking[:3]} & set(finisher_feed + skipper_feed)


def test_the_non_personalised_feed_is_the_same_for_two_viewers_in_one_region(population):
    cooking = population["cooking"]
    one, two = UserFactory(), UserFactory()
    for video in cooking[:4]:
        watch(one, video, through=True)
    follow(follower=two, creator=population["stylists"][0])
    for user in (one, two):
        engagement.set_feed_preference(user=user, personalised=False, region="US")

    feeds = []
    for user in (one, two):
        response = signed_in(user).get("/api/v1/feed/for-you/?size=20")
        assert response.json()["personalised"] is False
        feeds.append(response.json()["results"])

    assert [v["id"] for v in feeds[0]] == [v["id"] for v in feeds[1]]
    assert len(feeds[0]) == 20
    # An anonymous visitor from the same region gets the same list.
    anonymous = Client(HTTP_ACCEPT_LANGUAGE="en-US").get("/api/v1/feed/for-you/?size=20").json()
    assert [v["id"] for v in anonymous["results"]] == [v["id"] for v in feeds[0]]
    assert {r["code"] for v in feeds[0] for r in v["reasons"]} <= {"popular_region", "popular"}


def test_why_reasons_match_what_the_ranker_did(population):
    cooking, stylists = population["cooking"], population["stylists"]
    viewer = UserFactory()
    follow(follower=viewer, creator=stylists[1])
    for video in cooking[:3]:
        watch(viewer, video, through=True)
    newcomer = CreatorFactory()
    fresh_video = VideoFactory(creator=newcomer, caption="My first clip")

    client = signed_in(viewer)
    items = client.get("/api/v1/feed/for-you/?size=30").json()["results"]
    by_id = {item["id"]: {r["code"] for r in item["reasons"]} for item in items}

    followed_ids = set(Video.objects.filter(creator=stylists[1]).values_list("pk", flat=True))
    for vid in followed_ids & set(by_id):
        assert "following" in by_id[vid]
    assert followed_ids & set(by_id), "the followed creator's videos are in For You"
    for video in cooking[3:]:
        if video.pk in by_id:
            assert "similar_watched" in by_id[video.pk]
    assert "new_creator" in by_id[fresh_video.pk]
    # Every reason shown is one the ranker gave: the stored reasons, byte for byte.
    stored = store.reasons_for(viewer.pk, list(by_id))
    for item in items:
        assert [r["code"] for r in item["reasons"]] == [r["code"] for r in stored[item["id"]]]
        why = client.get(f"/api/v1/feed/videos/{item['id']}/why/").json()
        assert [r["text"] for r in why["reasons"]] == [r["text"] for r in item["reasons"]]
    # A video the viewer never watched through has no "similar" reason.
    for item in items:
        if item["id"] not in {v.pk for v in cooking}:
            assert not by_id[item["id"]] & {"similar_watched", "similar_liked"}


def test_no_creator_appears_three_times_in_a_row(db):
    prolific = CreatorFactory()
    for i in range(12):
        VideoFactory(creator=prolific, caption=f"Again {i}")
    others = [VideoFactory() for _ in range(4)]
    viewer = UserFactory()
    follow(follower=viewer, creator=prolific)

    ids = for_you_ids(signed_in(viewer), size=30)
    creators = dict(Video.objects.filter(pk__in=ids).values_list("pk", "creator_id"))
    sequence = [creators[vid] for vid in ids]
    assert len(ids) >= 10
    assert {v.pk for v in others} <= set(ids)
    for i in range(len(sequence) - 2):
        assert not (sequence[i] == sequence[i + 1] == sequence[i + 2]), sequence


def test_diversify_leaves_out_what_would_make_a_third_in_a_row():
    ranked = [ranker.Candidate(i, creator_id=1 if i < 5 else 2, score=10 - i) for i in range(7)]
    out = [c.creator_id for c in ranker.diversify(ranked)]
    assert out == [1, 1, 2, 1, 1, 2, 1]


def test_for_you_pages_never_repeat_a_video(population):
    viewer = UserFactory()
    client = signed_in(viewer)
    first, second = for_you_ids(client, size=8), for_you_ids(client, size=8)
    assert len(first) == len(second) == 8
    assert not set(first) & set(second)


def test_a_video_marked_not_interested_never_comes_back(population):
    viewer = UserFactory()
    client = signed_in(viewer)
    first = for_you_ids(client, size=5)
    response = client.post(f"/api/v1/feed/videos/{first[0]}/not-interested/")
    assert response.status_code == 204
    store.flush_all()  # even after everything served is forgotten
    assert first[0] not in for_you_ids(client, size=30)


def test_a_new_viewer_gets_popular_videos(population):
    viewer = UserFactory()
    items = signed_in(viewer).get("/api/v1/feed/for-you/?size=10").json()["results"]
    assert len(items) == 10
    for item in items:
        assert {r["code"] for r in item["reasons"]} & {"popular_region", "rising", "new_creator"}


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_precomputes_for_you_into_redis(celery_worker, population):
    from shopfeed.feed.ranking.tasks import rebuild_for_you_task

    viewer = UserFactory()
    watch(viewer, population["cooking"][0], through=True)
    rebuild_for_you_task.delay(user_id=viewer.pk, region="US")
    celery_worker.wait_for_output("rebuild_for_you_task", timeout=30)
    deadline = time.monotonic() + 30
    while store.client().zcard(f"feed:fy:{viewer.pk}") == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    stored = store.client().zcard(f"feed:fy:{viewer.pk}")
    ids = for_you_ids(signed_in(viewer), size=5)
    assert len(ids) == 5
    assert store.client().zcard(f"feed:fy:{viewer.pk}") == stored - 5


def test_why_is_empty_for_a_video_the_ranker_did_not_pick_for_the_viewer(population):
    viewer = UserFactory()
    seen = population["fashion"][0]
    watch(viewer, seen, through=True)  # watched: the ranker leaves it out
    client = signed_in(viewer)
    assert seen.pk not in for_you_ids(client, size=30)
    assert client.get(f"/api/v1/feed/videos/{seen.pk}/why/").json()["reasons"] == []
