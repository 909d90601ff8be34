"""What viewers do to videos: likes, comments, shares, follows, "not interested", watch events,
their feed settings, and purchases credited to a video (told by orders through a hook).

Counters on Video move in the same transaction as the row that justifies them, with F()
updates (no read-modify-write). Watch events are counted once per view: a view is a row named
by the page's random `view_token`, inserted with ON CONFLICT DO NOTHING, and only an insert
adds to the video's view count.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from shopfeed.accounts import services as accounts
from shopfeed.accounts.models import Follow, User
from shopfeed.errors import NotAllowed, NotFound, ShopFeedError
from shopfeed.throttling import ratelimit_cache
from shops.models import Shop
from shops.moderation import blocked_word_in

from ..models import (
    COMMENT_MAX_LENGTH,
    FeedPreference,
    NotInterested,
    Video,
    VideoComment,
    VideoLike,
    VideoPurchase,
    VideoShare,
    VideoView,
)

# A view counts as watched through at this share of the video's length.
COMPLETION_SHARE = 0.9
# One view's reported watch time is capped (a page left playing on loop all night).
MAX_WATCH_MS = 60 * 60 * 1000
MAX_REPLAYS = 1000
MAX_EVENTS_PER_BATCH = 50


class RateLimited(ShopFeedError):
    code = "rate_limited"
    status_code = 429


def _require_user(user, action: str) -> None:
    if not getattr(user, "is_authenticated", False):
        raise NotAllowed(f"Log in to {action}.", code="login_required")


# --- likes ----------------------------------------------------------------------------------


@transaction.atomic
def like(*, user, video: Video) -> bool:
    """Like `video`; True if this added a like (liking twice changes nothing)."""
    _require_user(user, "like videos")
    try:
        with transaction.atomic():
            VideoLike.objects.create(user=user, video=video)
    except IntegrityError:
        return False
    Video.objects.filter(pk=video.pk).update(like_count=F("like_count") + 1)
    return True


@transaction.atomic
def unlike(*, user, video: Video) -> bool:
    _require_user(user, "like videos")
    deleted, _ = VideoLike.objects.filter(user=user, video=video).delete()
    if deleted:
        Video.objects.filter(pk=video.pk).update(like_count=Greatest(F("like_count") - 1, 0))
    return bool(deleted)


# --- comments -------------------------------------------------------------------------------


def _check_comment_rate(user_id: int) -> None:
    """At most FEED_COMMENT_RATE comments per FEED_COMMENT_RATE_WINDOW seconds per user (a
    fixed window in the shared `ratelimit` cache, so across processes): live chat's rule."""
    rate = settings.FEED_COMMENT_RATE
    window = settings.FEED_COMMENT_RATE_WINDOW
    now = time.time()
    bucket = int(now // window)
    key = f"feed:comment-rate:{user_id}:{bucket}"
    cache = ratelimit_cache()
    if cache.add(key, 1, timeout=window + 1):
        sent = 1
    else:
        try:
            sent = cache.incr(key)
        except ValueError:  # expired between add and incr: a new window
            cache.add(key, 1, timeout=window + 1)
            sent = 1
    if sent > rate:
        wait = max(1, math.ceil((bucket + 1) * window - now))
        raise RateLimited(
            f"Slow down: at most {rate} comments every {window} seconds. Try again in {wait} s."
        )


def clean_comment(*, video: Video, text) -> str:
    """The comment as it will be posted, or the error that refuses it: live chat's rules
    (length, the platform's and the creator's shop's blocked words)."""
    if not isinstance(text, str) or not text.strip():
        raise ShopFeedError("Write a comment first.", code="empty", field="text")
    text = text.strip()
    limit = min(settings.FEED_COMMENT_MAX_LENGTH, COMMENT_MAX_LENGTH)
    if len(text) > limit:
        raise ShopFeedError(
            f"Comments are at most {limit} characters (this one has {len(text)}).",
            code="too_long",
            field="text",
        )
    shop_id = Shop.objects.filter(owner_id=video.creator_id).values_list("pk", flat=True).first()
    word = blocked_word_in(text, shop_id=shop_id)
    if word is not None:
        raise ShopFeedError(
            f"“{word}” is not allowed here. Edit your comment and send it again.",
            code="blocked_word",
            field="text",
        )
    return text


@transaction.atomic
def add_comment(*, author, video: Video, text) -> VideoComment:
    _require_user(author, "comment")
    text = clean_comment(video=video, text=text)
    _check_comment_rate(author.pk)
    comment = VideoComment.objects.create(video=video, author=author, text=text)
    Video.objects.filter(pk=video.pk).update(comment_count=F("comment_count") + 1)
    return comment


@transaction.atomic
def delete_comment(*, comment: VideoComment, by) -> None:
    """The comment's author or the video's creator removes it."""
    _require_user(by, "delete comments")
    if by.pk not in (comment.author_id, comment.video.creator_id) and not by.is_staff:
        raise NotAllowed("Only its author or the video's creator can delete a comment.")
    deleted, _ = VideoComment.objects.filter(pk=comment.pk).delete()
    if deleted:
        Video.objects.filter(pk=comment.video_id).update(
            comment_count=Greatest(F("comment_count") - 1, 0)
        )


# --- shares, follows, not interested ------------------------------------------------------------


@transaction.atomic
def share(*, user, video: Video) -> bool:
    """Count a share of the video's link: once per signed-in viewer (anyone may copy it)."""
    if not getattr(user, "is_authenticated", False):
        return False
    try:
        with transaction.atomic():
            VideoShare.objects.create(user=user, video=video)
    except IntegrityError:
        return False
    Video.objects.filter(pk=video.pk).update(share_count=F("share_count") + 1)
    return True


def follow_creator(*, user, creator: User) -> Follow:
    _require_user(user, "follow creators")
    return accounts.follow(follower=user, creator=creator)


def unfollow_creator(*, user, creator: User) -> None:
    _require_user(user, "follow creators")
    accounts.unfollow(follower=user, creator=creator)


@transaction.atomic
def mark_not_interested(*, user, video: Video) -> None:
    """Never show this video again, and rank its creator's others lower (ranking reads it)."""
    _require_user(user, "tune your feed")
    NotInterested.objects.get_or_create(user=user, video=video)


# --- feed settings --------------------------------------------------------------------------


@transaction.atomic
def set_feed_preference(*, user, personalised: bool, region: str = "") -> FeedPreference:
    _require_user(user, "change feed settings")
    region = (region or "").strip().upper()
    if region and not (len(region) == 2 and region.isascii() and region.isalpha()):
        raise ShopFeedError(
            "Region is a two-letter country code such as US or DE.",
            code="bad_region",
            field="region",
        )
    preference, _ = FeedPreference.objects.update_or_create(
        user=user, defaults={"personalised": bool(personalised), "region": region}
    )
    return preference


# --- watch events ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WatchEvent:
    """One view's figures so far (cumulative: the page resends them, never adds)."""

    view_token: uuid.UUID
    video_id: int
    watch_ms: int
    completed: bool = False
    replays: int = 0


def record_watch_events(*, viewer, region: str, events: list[WatchEvent]) -> int:
    """Store a batch of watch events; returns how many views it started.

    Events for videos nobody may watch now are dropped (a video hidden while it played). A
    view belongs to whoever started it: a token someone else started is left alone.
    """
    if len(events) > MAX_EVENTS_PER_BATCH:
        raise ShopFeedError(
            f"Send at most {MAX_EVENTS_PER_BATCH} events at a time.", code="too_many_events"
        )
    if not events:
        return 0
    from ..selectors import published_videos

    durations = dict(
        published_videos()
        .filter(pk__in={e.video_id for e in events})
        .values_list("pk", "duration_ms")
    )
    latest: dict[uuid.UUID, WatchEvent] = {}
    for event in events:
        if event.video_id in durations:
            latest[event.view_token] = event  # the last report of a view wins
    if not latest:
        return 0
    viewer_id = viewer.pk if getattr(viewer, "is_authenticated", False) else None
    rows = [_view_row(e, durations[e.video_id], viewer_id, region) for e in latest.values()]
    with transaction.atomic():
        started = _insert_new_views(rows)
        _update_existing_views([r for r in rows if r["view_token"] not in started], viewer_id)
        per_video: dict[int, int] = {}
        for row in rows:
            if row["view_token"] in started:
                per_video[row["video_id"]] = per_video.get(row["video_id"], 0) + 1
        for video_id, n in sorted(per_video.items()):
            Video.objects.filter(pk=video_id).update(view_count=F("view_count") + n)
    return len(started)


def _view_row(event: WatchEvent, duration_ms: int | None, viewer_id, region: str) -> dict:
    watch_ms = max(0, min(int(event.watch_ms), MAX_WATCH_MS))
    replays = max(0, min(int(event.replays), MAX_REPLAYS))
    completed = bool(event.completed) or replays > 0
    if duration_ms and watch_ms >= duration_ms * COMPLETION_SHARE:
        completed = True
    return {
        "view_token": event.view_token,
        "video_id": event.video_id,
        "viewer_id": viewer_id,
        "region": region,
        "watch_ms": watch_ms,
        "completed": completed,
        "replays": replays,
    }


def _insert_new_views(rows: list[dict]) -> set[uuid.UUID]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING: the tokens this batch started (one
    statement; PostgreSQL and SQLite both speak it)."""
    table = VideoView._meta.db_table
    now = timezone.now()
    values, params = [], []
    for row in rows:
        values.append("(%s, %s, %s, %s, %s, %s, %s, %s, %s)")
        token = row["view_token"] if connection.vendor == "postgresql" else row["view_token"].hex
        params += [
            token,
            row["video_id"],
            row["viewer_id"],
            row["region"],
            row["watch_ms"],
            row["completed"],
            row["replays"],
            now,
            now,
        ]
    sql = (
        f"INSERT INTO {table} (view_token, video_id, viewer_id, region, watch_ms, completed, "  # noqa: S608
        f"replays, started_at, updated_at) VALUES {', '.join(values)} "
        "ON CONFLICT (view_token) DO NOTHING RETURNING view_token"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        returned = cursor.fetchall()
    return {r[0] if isinstance(r[0], uuid.UUID) else uuid.UUID(str(r[0])) for r in returned}


def _update_existing_views(rows: list[dict], viewer_id) -> None:
    for row in rows:
        VideoView.objects.filter(
            view_token=row["view_token"], video_id=row["video_id"], viewer_id=viewer_id
        ).update(
            watch_ms=Greatest(F("watch_ms"), row["watch_ms"]),
            replays=Greatest(F("replays"), row["replays"]),
            completed=True if row["completed"] else F("completed"),
            updated_at=timezone.now(),
        )


# --- purchases ------------------------------------------------------------------------------


@transaction.atomic
def record_video_purchase(*, user_id: int, video_id: int, order_ref: str) -> bool:
    """A paid order credited to a video (called by orders' hook; running twice is harmless)."""
    if not Video.objects.filter(pk=video_id).exists():
        return False
    _, created = VideoPurchase.objects.get_or_create(
        order_ref=str(order_ref)[:64], defaults={"user_id": user_id, "video_id": video_id}
    )
    return created


def get_watchable_video(*, video_id) -> Video:
    from ..selectors import published_videos

    try:
        return published_videos().get(pk=int(video_id))
    except (TypeError, ValueError, Video.DoesNotExist):
        raise NotFound("No such video.", code="no_video") from None
