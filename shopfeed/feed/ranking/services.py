"""For You and its non-personalised twin, served from precomputed lists.

Personalised: `rebuild_for_you` ranks (shopfeed.feed.ranking.ranker) and stores the list in
the user's Redis sorted set with the reasons; a page pops the next videos from it, remembers
them as served (never repeated while FEED_SEEN_HOURS last) and, when few remain, queues a
rebuild (a Celery task, one at a time per user). The beat job rebuilds every user active in
the last FEED_ACTIVE_HOURS. A user with nothing stored yet (the first visit, or after Redis lost
its data) is ranked on the spot.

Non-personalised (the viewer switched personalisation off, or is not signed in): what is
popular in the viewer's region, computed once per region for everyone and paged by number.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from . import ranker, store

NON_PERSONALISED_SIZE = 200


@dataclass(frozen=True)
class FeedPage:
    video_ids: list[int]
    reasons: dict[int, list[dict]]
    personalised: bool
    has_more: bool


def rebuild_for_you(*, user_id: int, region: str) -> int:
    """Rank For You for the user again (skipping what was served lately); the list's length."""
    ranked = ranker.rank_for_user(
        user_id,
        region=region,
        size=settings.FEED_FOR_YOU_SIZE,
        exclude=store.recently_served(user_id),
    )
    store.replace_for_you(user_id, [(c.video_id, c.reason_list()) for c in ranked])
    store.release_refill(user_id)
    return len(ranked)


def for_you_page(*, user_id: int, region: str, size: int) -> FeedPage:
    ids, remaining = store.take_for_you(user_id, size)
    if not ids:
        # Nothing stored: the first visit, or everything was served. Rank now (cold start
        # falls back to popular inside the ranker).
        rebuild_for_you(user_id=user_id, region=region)
        ids, remaining = store.take_for_you(user_id, size)
    store.mark_served(user_id, ids)
    if remaining < settings.FEED_FOR_YOU_TOP_UP_BELOW and store.claim_refill(user_id):
        from .tasks import rebuild_for_you_task

        transaction.on_commit(lambda: rebuild_for_you_task.delay(user_id=user_id, region=region))
    return FeedPage(
        video_ids=ids,
        reasons=store.reasons_for(user_id, ids),
        personalised=True,
        has_more=bool(ids),
    )


def popular_ranked(region: str) -> list[tuple[int, list[dict]]]:
    cached = store.cached_popular(region)
    if cached is None:
        cached = [
            (c.video_id, c.reason_list())
            for c in ranker.rank_popular(region, size=NON_PERSONALISED_SIZE)
        ]
        store.cache_popular(region, cached)
    return cached


def popular_page(*, region: str, page: int, size: int) -> FeedPage:
    ranked = popular_ranked(region)
    start = (page - 1) * size
    chunk = ranked[start : start + size]
    return FeedPage(
        video_ids=[vid for vid, _ in chunk],
        reasons=dict(chunk),
        personalised=False,
        has_more=start + size < len(ranked),
    )


def why(*, user_id: int | None, video_id: int, region: str, personalised: bool) -> list[dict]:
    """The reasons the ranker gave the viewer for this video (empty: it did not pick it)."""
    if personalised and user_id is not None:
        # Only what the ranker stored for this viewer: a video they opened from a link, a
        # search or Following was not the ranker's choice.
        return store.reasons_for(user_id, [video_id]).get(video_id, [])
    return dict(popular_ranked(region)).get(video_id, [])


def refresh_active_feeds() -> int:
    """Queue a rebuild for every user who read For You lately; how many were queued."""
    from .tasks import rebuild_for_you_task

    users = store.active_users(since_seconds=settings.FEED_ACTIVE_HOURS * 3600)
    from ..engagement.selectors import regions_of

    regions = regions_of(users)
    for user_id in users:
        rebuild_for_you_task.delay(user_id=user_id, region=regions[user_id])
    return len(users)
