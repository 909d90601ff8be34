"""The video feed: its pages under load beside a bare DRF list of the same videos, and the
ranking job's time per active user, on a synthetic population.

Seeds BENCH_FEED_VIDEOS videos (default 100,000) from BENCH_FEED_USERS / 20 creators and
BENCH_FEED_USERS viewers (default 10,000). Each viewer follows 5 creators and has watched
20 videos through (of one of 20 "topics", so co-engagement means something) and liked 5; all
in region US. Only the bench's own rows (handles benchfeed*/benchviewer*) are replaced, and
only when the sizes changed; then ANALYZE.

Loaded in alternating rounds against their yardsticks (gunicorn, 2 sync workers):
- For You as an anonymous visitor gets it (non-personalised: the region's list, precomputed
  in Redis), a 10-video page, beside `/bench/bare-videos/?ids=<the same 10>`;
- Following for a signed-in viewer (API token), beside the bare list of the same query.
A personalised For You page pops its videos (never repeated), so it cannot be replayed by a
load client; the ranking job is timed instead: `rebuild_for_you` (rank + store in Redis) for
a sample of active viewers, median and p90 per user, and what a full refresh would take.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from bench.load import BenchError, LoadResult, expect_for, merge, run_load
from bench.server import gunicorn

CREATOR_PREFIX = "benchfeed"
# Django's marker for "no password can log in" (make_password(None) makes a random one).
UNUSABLE = "!"
VIEWER_PREFIX = "benchviewer"
PAGE = 10
TOPICS = 20
RANK_SAMPLE = int(os.environ.get("BENCH_FEED_RANK_SAMPLE", "20"))


def _sizes() -> tuple[int, int]:
    videos = int(os.environ.get("BENCH_FEED_VIDEOS", "100000"))
    users = int(os.environ.get("BENCH_FEED_USERS", "10000"))
    if not (1000 <= videos <= 1_000_000 and 100 <= users <= 100_000):
        raise BenchError("BENCH_FEED_VIDEOS 1,000-1,000,000 and BENCH_FEED_USERS 100-100,000")
    return videos, users


def _delete_bench_rows() -> None:
    with connection.cursor() as c:
        c.execute(
            "CREATE TEMP TABLE bench_users ON COMMIT DROP AS SELECT id FROM accounts_user "
            "WHERE handle LIKE %s OR handle LIKE %s",
            [f"{CREATOR_PREFIX}%", f"{VIEWER_PREFIX}%"],
        )
        c.execute(
            "CREATE TEMP TABLE bench_videos ON COMMIT DROP AS SELECT id FROM feed_video "
            "WHERE creator_id IN (SELECT id FROM bench_users)"
        )
        for table in ("feed_videoview", "feed_videolike", "feed_videopurchase",
                      "feed_notinterested", "feed_videocomment", "feed_videoshare",
                      "feed_videoproduct", "feed_video_hashtags"):  # fmt: skip
            c.execute(f"DELETE FROM {table} WHERE video_id IN (SELECT id FROM bench_videos)")  # noqa: S608
        c.execute("DELETE FROM feed_video WHERE id IN (SELECT id FROM bench_videos)")
        c.execute(
            "DELETE FROM accounts_follow WHERE follower_id IN (SELECT id FROM bench_users) "
            "OR creator_id IN (SELECT id FROM bench_users)"
        )
        c.execute("DELETE FROM authtoken_token WHERE user_id IN (SELECT id FROM bench_users)")
        c.execute("DELETE FROM feed_feedpreference WHERE user_id IN (SELECT id FROM bench_users)")
        c.execute("DELETE FROM accounts_user WHERE id IN (SELECT id FROM bench_users)")


def seed(*, videos: int, users: int) -> None:
    from shopfeed.accounts.models import Follow, User
    from shopfeed.feed.models import Video, VideoLike, VideoView

    creators_n = max(TOPICS, users // 20)
    have_v = Video.objects.filter(creator__handle__startswith=CREATOR_PREFIX).count()
    have_u = User.objects.filter(handle__startswith=VIEWER_PREFIX).count()
    if (have_v, have_u) == (videos, users):
        return
    rng = random.Random(11)
    now = timezone.now()
    started = time.monotonic()
    with transaction.atomic():
        _delete_bench_rows()
        creators = User.objects.bulk_create(
            User(
                username=f"{CREATOR_PREFIX}{i}",
                handle=f"{CREATOR_PREFIX}{i}",
                password=UNUSABLE,
                is_creator=True,
            )
            for i in range(creators_n)
        )
        viewers = User.objects.bulk_create(
            User(username=f"{VIEWER_PREFIX}{i}", handle=f"{VIEWER_PREFIX}{i}", password=UNUSABLE)
            for i in range(users)
        )
        rows = Video.objects.bulk_create(
            (
                Video(
                    creator=creators[i % creators_n],
                    caption=f"Bench clip {i} #topic{i % creators_n % TOPICS}",
                    status=Video.Status.READY,
                    visibility=Video.Visibility.PUBLIC,
                    publish_at=now - timedelta(minutes=rng.randrange(60 * 24 * 30)),
                    mp4_file=f"videos/bench/{i}.mp4",
                    hls_master=f"videos/bench/{i}/master.m3u8",
                    poster=f"videos/bench/{i}.jpg",
                    duration_ms=15_000,
                    width=720,
                    height=1280,
                    view_count=rng.randrange(5000),
                    like_count=rng.randrange(500),
                )
                for i in range(videos)
            ),
            batch_size=5000,
        )
        by_topic: dict[int, list[int]] = {}
        for v in rows:
            by_topic.setdefault(v.creator_id % TOPICS, []).append(v.pk)
        topic_creators: dict[int, list[int]] = {}
        for c in creators:
            topic_creators.setdefault(c.pk % TOPICS, []).append(c.pk)
        follows, views, likes = [], [], []
        for u in viewers:
            topic = u.pk % TOPICS
            for creator_id in rng.sample(topic_creators[topic], min(5, len(topic_creators[topic]))):
                follows.append(Follow(follower=u, creator_id=creator_id))
            watched = rng.sample(by_topic[topic], 20)
            for vid in watched:
                views.append(VideoView(
                    view_token=_uuid(rng), video_id=vid, viewer=u, region="US",
                    watch_ms=15_000, completed=True,
                    started_at=now - timedelta(minutes=rng.randrange(60 * 24 * 7)),
                ))  # fmt: skip
            for vid in watched[:5]:
                likes.append(VideoLike(video_id=vid, user=u))
        Follow.objects.bulk_create(follows, batch_size=5000)
        VideoView.objects.bulk_create(views, batch_size=5000)
        VideoLike.objects.bulk_create(likes, batch_size=5000)
    with connection.cursor() as c:
        c.execute("ANALYZE")
    print(
        f"feed: seeded {videos:,} videos, {users:,} viewers, {len(views):,} views, "
        f"{len(likes):,} likes in {time.monotonic() - started:.0f} s",
        flush=True,
    )


def _uuid(rng: random.Random):
    import uuid

    return uuid.UUID(int=rng.getrandbits(128), version=4)


def time_ranking(*, sample: int) -> list[str]:
    from shopfeed.accounts.models import User
    from shopfeed.feed.ranking import services, store

    ids = list(
        User.objects.filter(handle__startswith=VIEWER_PREFIX)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    users = User.objects.filter(handle__startswith=VIEWER_PREFIX).count()
    chosen = random.Random(5).sample(ids, min(sample, len(ids)))
    times, sizes = [], []
    for uid in chosen:
        store.forget_user(uid)
        t0 = time.perf_counter()
        sizes.append(services.rebuild_for_you(user_id=uid, region="US"))
        times.append((time.perf_counter() - t0) * 1000)
        store.forget_user(uid)
    times.sort()
    med = statistics.median(times)
    p90 = times[int(0.9 * (len(times) - 1))]
    return [
        f"ranking job: median {med:.0f} ms, p90 {p90:.0f} ms per active user "
        f"(rank + store, {len(chosen)} sampled, {statistics.median(sizes):.0f} videos each); "
        f"all {users:,} viewers active: ~{med * users / 1000 / 60:.1f} min of one worker",
        f"load average after ranking: {os.getloadavg()[0]:.2f}",
    ]


def run(*, client: str, concurrency: int, duration: float, warmup: float, rounds: int, **_):
    from rest_framework.authtoken.models import Token

    from shopfeed.accounts.models import User
    from shopfeed.feed.ranking import store

    videos, users = _sizes()
    seed(videos=videos, users=users)
    notes = time_ranking(sample=RANK_SAMPLE)
    for region in ("US",):
        store.client().delete(f"feed:popular:{region}")
    viewer = User.objects.get(handle=f"{VIEWER_PREFIX}0")
    token, _ = Token.objects.get_or_create(user=viewer)
    auth = {"Authorization": f"Token {token.key}"}
    results: list[LoadResult] = []
    with gunicorn(workers=2, ready_path="/api/v1/feed/for-you/") as base:
        from bench.load import item_ids

        fy_url = f"{base}/api/v1/feed/for-you/?size={PAGE}"
        fy_ids = item_ids(fy_url)
        pairs = {
            "For You (non-personalised) API": (fy_url, None),
            "bare list, same videos": (
                f"{base}/bench/bare-videos/?ids={','.join(map(str, fy_ids))}",
                None,
            ),
            "Following API": (f"{base}/api/v1/feed/following/", auth),
            "bare list, same query": (f"{base}/bench/bare-videos/", auth),
        }
        expects = {name: expect_for(url, items=PAGE, headers=h) for name, (url, h) in pairs.items()}
        runs: dict[str, list[LoadResult]] = {name: [] for name in pairs}

        def load(name: str, seconds: float) -> LoadResult:
            url, headers = pairs[name]
            return run_load(
                name, url, expect=expects[name], client=client, concurrency=concurrency,
                duration=seconds, headers=headers,
            )  # fmt: skip

        for name in pairs:
            load(name, warmup)
        names = list(pairs)
        for n in range(rounds):
            for name in names if n % 2 == 0 else list(reversed(names)):
                runs[name].append(load(name, duration / rounds))
        merged = {name: merge(r) for name, r in runs.items()}
        results = list(merged.values())
        for page, bare in ((names[0], names[1]), (names[2], names[3])):
            per_round = sorted(a.rps / b.rps for a, b in zip(runs[page], runs[bare], strict=True))
            notes.append(
                f"{page} / {bare}: {merged[page].rps / merged[bare].rps:.2f}x requests/s "
                f"(rounds {per_round[0]:.2f}-{per_round[-1]:.2f}, median "
                f"{statistics.median(per_round):.2f}), "
                f"{merged[page].p50_ms / merged[bare].p50_ms:.2f}x p50"
            )
    notes.append(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return results, notes
