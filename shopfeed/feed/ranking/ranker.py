"""The For You ranker (DESIGN.md section 5b). Pure reads: it returns a ranked list with, for
each video, the reasons that put it there; shopfeed.feed.ranking.services stores it.

Candidates, each with the weight it adds to a video's score (and the reason shown):

- a creator the viewer follows, newer first: 3.0 * recency ("You follow @x");
- similar to what the viewer watched through / liked / bought from: 2.0 * similarity
  ("Similar to videos you ...");
- rising (watched through, liked, bought from most in the last 24 h): 1.0 * share of the top;
- fresh (published in the last 48 h, under FRESH_AUDIENCE views): 0.7 ("New creator" /
  "New upload"), a fair first audience;
- popular in the viewer's region over 7 days (the platform's when the region is quiet):
  0.5 * share of the top ("Popular in your region");

minus 1.0 * similarity to videos the viewer skipped (left within 3 s, not watched through) and
1.5 for each video of the creator the viewer marked "not interested".

Similarity is item-to-item from co-engagement (cosine over the sets of viewers who watched
through, liked or bought from each video): n(a, b) / sqrt(n(a) * n(b)), counted in SQL.
Excluded: the viewer's own videos, videos marked "not interested", and videos served or
watched in the last FEED_SEEN_HOURS. Then diversified: never a creator three times in a row.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from shopfeed.accounts.models import Follow

from ..models import NotInterested, Video, VideoLike, VideoPurchase, VideoView
from ..selectors import published_videos

POSITIVE_DAYS = 60
FOLLOWED_DAYS = 30
RISING_HOURS = 24
FRESH_HOURS = 48
FRESH_AUDIENCE = 100
POPULAR_DAYS = 7
SKIP_MS = 3000
SEEDS_PER_KIND = 30
MAX_RUN = 2  # the most videos of one creator in a row

W_FOLLOWED, W_SIMILAR, W_RISING, W_FRESH, W_POPULAR = 3.0, 2.0, 1.0, 0.7, 0.5
W_SKIPPED, W_NOT_INTERESTED_CREATOR = 1.0, 1.5

SIMILAR_TEXT = {
    "bought": "Similar to videos you bought from",
    "liked": "Similar to videos you liked",
    "watched": "Similar to videos you watched to the end",
}


@dataclass
class Candidate:
    video_id: int
    creator_id: int = 0
    score: float = 0.0
    reasons: dict[str, dict] = field(default_factory=dict)

    def add(self, weight: float, code: str, text: str, **detail) -> None:
        self.score += weight
        if code not in self.reasons or self.reasons[code].get("weight", 0) < weight:
            self.reasons[code] = {"code": code, "text": text, "weight": round(weight, 3), **detail}

    def reason_list(self) -> list[dict]:
        return sorted(self.reasons.values(), key=lambda r: -r["weight"])


# --- the reads ------------------------------------------------------------------------------


def _positives_sql() -> str:
    views, likes, buys = (m._meta.db_table for m in (VideoView, VideoLike, VideoPurchase))
    return (
        f"SELECT viewer_id AS user_id, video_id FROM {views} "  # noqa: S608 - table names
        "WHERE viewer_id IS NOT NULL AND completed AND started_at >= %s "
        f"UNION SELECT user_id, video_id FROM {likes} WHERE created_at >= %s "
        f"UNION SELECT user_id, video_id FROM {buys} WHERE created_at >= %s"
    )


def similar_to(seeds: list[int], *, exclude_user: int) -> dict[int, list[tuple[int, float]]]:
    """For each video co-engaged with a seed: [(seed, cosine similarity)]."""
    if not seeds:
        return {}
    since = timezone.now() - timedelta(days=POSITIVE_DAYS)
    marks = ", ".join(["%s"] * len(seeds))
    pos = _positives_sql()
    sql = (
        f"WITH pos AS ({pos}), "  # noqa: S608 - placeholders only
        "pairs AS (SELECT p1.video_id AS seed, p2.video_id AS cand, COUNT(*) AS n "
        "FROM pos p1 JOIN pos p2 ON p2.user_id = p1.user_id AND p2.video_id <> p1.video_id "
        f"WHERE p1.video_id IN ({marks}) AND p1.user_id <> %s GROUP BY p1.video_id, p2.video_id), "
        "deg AS (SELECT video_id, COUNT(*) AS d FROM pos GROUP BY video_id) "
        "SELECT pairs.seed, pairs.cand, pairs.n, ds.d, dc.d FROM pairs "
        "JOIN deg ds ON ds.video_id = pairs.seed JOIN deg dc ON dc.video_id = pairs.cand"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [since, since, since, *seeds, exclude_user])
        rows = cursor.fetchall()
    out: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for seed, cand, n, d_seed, d_cand in rows:
        out[cand].append((seed, n / math.sqrt(d_seed * d_cand)))
    return out


def viewer_seeds(user_id: int) -> tuple[dict[int, str], list[int]]:
    """The viewer's positive videos ({video: bought|liked|watched}, strongest kind kept) and
    the ones they skipped."""
    since = timezone.now() - timedelta(days=POSITIVE_DAYS)
    seeds: dict[int, str] = {}
    watched = VideoView.objects.filter(viewer_id=user_id, completed=True, started_at__gte=since)
    for vid in watched.order_by("-started_at").values_list("video_id", flat=True)[:SEEDS_PER_KIND]:
        seeds[vid] = "watched"
    liked = VideoLike.objects.filter(user_id=user_id, created_at__gte=since)
    for vid in liked.order_by("-created_at").values_list("video_id", flat=True)[:SEEDS_PER_KIND]:
        seeds[vid] = "liked"
    bought = VideoPurchase.objects.filter(user_id=user_id, created_at__gte=since)
    for vid in bought.order_by("-created_at").values_list("video_id", flat=True)[:SEEDS_PER_KIND]:
        seeds[vid] = "bought"
    skipped = (
        VideoView.objects.filter(
            viewer_id=user_id, completed=False, watch_ms__lt=SKIP_MS, started_at__gte=since
        )
        .exclude(video_id__in=list(seeds))
        .order_by("-started_at")
        .values_list("video_id", flat=True)[:SEEDS_PER_KIND]
    )
    return seeds, list(dict.fromkeys(skipped))


def rising(now=None) -> list[tuple[int, float]]:
    """Videos by engagement in the last 24 h, as a share of the top one."""
    now = now or timezone.now()
    since = now - timedelta(hours=RISING_HOURS)
    views, likes, buys = (m._meta.db_table for m in (VideoView, VideoLike, VideoPurchase))
    sql = (
        "SELECT video_id, SUM(w) FROM ("  # noqa: S608 - table names
        f"SELECT video_id, 1 AS w FROM {views} WHERE completed AND started_at >= %s "
        f"UNION ALL SELECT video_id, 2 AS w FROM {likes} WHERE created_at >= %s "
        f"UNION ALL SELECT video_id, 3 AS w FROM {buys} WHERE created_at >= %s"
        ") e GROUP BY video_id ORDER BY SUM(w) DESC, video_id LIMIT 100"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [since, since, since])
        rows = [(vid, float(total)) for vid, total in cursor.fetchall() if total >= 3]
    top = rows[0][1] if rows else 1.0
    return [(vid, total / top) for vid, total in rows]


def popular(region: str, *, limit: int = 200) -> list[tuple[int, float, str]]:
    """(video, share of the top, "region" | "platform"): watched in the region over the last
    7 days, then the platform's most watched to fill up. The same for every viewer."""
    since = timezone.now() - timedelta(days=POPULAR_DAYS)
    views = VideoView._meta.db_table
    sql = (
        f"SELECT video_id, COUNT(*) + SUM(CASE WHEN completed THEN 2 ELSE 0 END) AS s "  # noqa: S608
        f"FROM {views} WHERE region = %s AND started_at >= %s "
        "GROUP BY video_id ORDER BY s DESC, video_id DESC LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [region, since, limit])
        regional = [(vid, float(s)) for vid, s in cursor.fetchall()]
    top = regional[0][1] if regional else 1.0
    out = [(vid, s / top, "region") for vid, s in regional]
    if len(out) < limit:
        seen = {vid for vid, _, _ in out}
        rest = list(
            published_videos()
            .exclude(pk__in=seen)
            .order_by("-view_count", "-like_count", "-publish_at", "-id")
            .values_list("pk", "view_count")[: limit - len(out)]
        )
        top_rest = max((vc for _, vc in rest), default=0) or 1
        # Below every regional one: the region's viewers come first.
        out += [(vid, 0.5 * vc / top_rest, "platform") for vid, vc in rest]
    return out


def fresh(now=None) -> list[tuple[int, bool]]:
    """(video, is its creator new) for recent uploads still short of a first audience."""
    now = now or timezone.now()
    recent = list(
        published_videos()
        .filter(publish_at__gte=now - timedelta(hours=FRESH_HOURS), view_count__lt=FRESH_AUDIENCE)
        .order_by("view_count", "-publish_at", "-id")
        .values_list("pk", "creator_id")[:50]
    )
    creators = {c for _, c in recent}
    veterans = set(
        published_videos()
        .filter(creator_id__in=creators, publish_at__lt=now - timedelta(days=30))
        .values_list("creator_id", flat=True)
        .distinct()
    )
    return [(vid, creator not in veterans) for vid, creator in recent]


# --- ranking ---------------------------------------------------------------------------------


def _region_text(region: str, where: str) -> tuple[str, str]:
    if where == "region":
        return "popular_region", f"Popular in your region ({region})"
    return "popular", "Popular on ShopFeed"


def rank_for_user(
    user_id: int, *, region: str, size: int, exclude: set[int] | frozenset = frozenset()
) -> list[Candidate]:
    now = timezone.now()
    cands: dict[int, Candidate] = {}

    def cand(vid: int) -> Candidate:
        if vid not in cands:
            cands[vid] = Candidate(vid)
        return cands[vid]

    followed = dict(
        Follow.objects.filter(follower_id=user_id).values_list("creator_id", "creator__handle")
    )
    if followed:
        for vid, creator_id, published in (
            published_videos()
            .filter(creator_id__in=followed, publish_at__gte=now - timedelta(days=FOLLOWED_DAYS))
            .values_list("pk", "creator_id", "publish_at")[:200]
        ):
            age_days = (now - published).total_seconds() / 86400
            cand(vid).add(
                W_FOLLOWED / (1 + age_days / 3),
                "following",
                f"You follow @{followed[creator_id]}",
            )

    seeds, skipped = viewer_seeds(user_id)
    for vid, pairs in similar_to(list(seeds), exclude_user=user_id).items():
        best_seed, _ = max(pairs, key=lambda p: p[1])
        kind = seeds[best_seed]
        total = min(1.0, sum(s for _, s in pairs))
        cand(vid).add(W_SIMILAR * total, f"similar_{kind}", SIMILAR_TEXT[kind], seed=best_seed)
    for vid, pairs in similar_to(skipped, exclude_user=user_id).items():
        cand(vid).score -= W_SKIPPED * min(1.0, sum(s for _, s in pairs))

    for vid, share in rising(now):
        cand(vid).add(
            W_RISING * share, "rising", "Rising: many people watched it in the last 24 hours"
        )
    for vid, new_creator in fresh(now):
        if new_creator:
            cand(vid).add(W_FRESH, "new_creator", "New creator: new videos get a first audience")
        else:
            cand(vid).add(W_FRESH, "fresh", "New upload: new videos get a first audience")
    for vid, share, where in popular(region):
        code, text = _region_text(region, where)
        cand(vid).add(W_POPULAR * share, code, text, region=region)

    not_interested = set(
        NotInterested.objects.filter(user_id=user_id).values_list("video_id", flat=True)
    )
    watched_recently = set(
        VideoView.objects.filter(
            viewer_id=user_id, started_at__gte=now - timedelta(hours=settings.FEED_SEEN_HOURS)
        ).values_list("video_id", flat=True)
    )
    drop = not_interested | watched_recently | set(exclude) | set(seeds)
    ids = [vid for vid in cands if vid not in drop]
    creator_of = dict(
        published_videos()
        .filter(pk__in=ids)
        .exclude(creator_id=user_id)
        .values_list("pk", "creator_id")
    )
    muted_creators: dict[int, int] = defaultdict(int)
    for creator_id in Video.objects.filter(pk__in=not_interested).values_list(
        "creator_id", flat=True
    ):
        muted_creators[creator_id] += 1

    ranked = []
    for vid in ids:
        if vid not in creator_of:
            continue  # hidden, unpublished, or the viewer's own
        c = cands[vid]
        c.creator_id = creator_of[vid]
        c.score -= W_NOT_INTERESTED_CREATOR * muted_creators.get(c.creator_id, 0)
        if c.reasons and c.score > 0:
            ranked.append(c)
    ranked.sort(key=lambda c: (-c.score, -c.video_id))
    return diversify(ranked)[:size]


def rank_popular(region: str, *, size: int) -> list[Candidate]:
    """The non-personalised For You: popular in the region, the same for every viewer."""
    rows = popular(region, limit=size)
    creator_of = dict(
        published_videos().filter(pk__in=[v for v, _, _ in rows]).values_list("pk", "creator_id")
    )
    ranked = []
    for vid, share, where in rows:
        if vid in creator_of:
            code, text = _region_text(region, where)
            c = Candidate(vid, creator_id=creator_of[vid])
            c.add(W_POPULAR * share, code, text, region=region)
            ranked.append(c)
    return diversify(ranked)


def diversify(ranked: list[Candidate], *, max_run: int = MAX_RUN) -> list[Candidate]:
    """Best first, but never more than `max_run` of one creator in a row: the next best of
    another creator steps in; what cannot be placed without a third in a row is left out."""
    pending = list(ranked)
    out: list[Candidate] = []
    while pending:
        run_creator = out[-1].creator_id if len(out) >= max_run else None
        if run_creator is not None and any(c.creator_id != run_creator for c in out[-max_run:]):
            run_creator = None
        for i, c in enumerate(pending):
            if c.creator_id != run_creator:
                out.append(pending.pop(i))
                break
        else:
            break
    return out
