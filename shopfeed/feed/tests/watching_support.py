"""Helpers for the watching, engagement and ranking tests: a clean feed store per test (user
ids restart with each test database; Redis remembers) and watch events sent through the real
service, as the page's beacons would."""

import uuid

import pytest

from shopfeed.feed.engagement.services import WatchEvent, record_watch_events
from shopfeed.feed.ranking import store


@pytest.fixture(autouse=True)
def feed_store():
    store.flush_all()
    yield
    store.flush_all()


def watch(user, video, *, through: bool, region: str = "US") -> None:
    """One view of `video` by `user`: watched to the end, or left after a second."""
    watch_all(user, [video], through=through, region=region)


def watch_all(user, videos, *, through: bool, region: str = "US") -> None:
    """One view of each video by `user`, reported in one batch."""
    record_watch_events(
        viewer=user,
        region=region,
        events=[
            WatchEvent(
                view_token=uuid.uuid4(),
                video_id=video.pk,
                watch_ms=(video.duration_ms or 15_000) if through else 1000,
                completed=through,
            )
            for video in videos
        ],
    )


def for_you_ids(client, *, size: int = 30) -> list[int]:
    response = client.get(f"/api/v1/feed/for-you/?size={size}")
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]
