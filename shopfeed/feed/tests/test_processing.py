"""Processing by a real Celery worker with real ffmpeg: a clip uploaded in chunks becomes an
MP4, two HLS renditions and a poster, and shows in published_videos(); a worker killed
mid-transcode publishes nothing and a retry completes the video."""

import os
import signal
import subprocess
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from shopfeed.feed import processing
from shopfeed.feed.models import Video
from shopfeed.feed.selectors import published_videos
from shopfeed.feed.tests import clips
from shopfeed.feed.tests.conftest import tus_upload
from shopfeed.testing import start_celery_worker, wait_until
from shops.tests.factories import ProductFactory

pytestmark = [pytest.mark.postgres, pytest.mark.services]

DONE = (Video.Status.READY, Video.Status.FAILED)


def _finished(video_id: int, timeout: float = 60) -> Video:
    return wait_until(
        lambda: Video.objects.filter(pk=video_id, status__in=DONE).first(),
        timeout=timeout,
        what=f"video {video_id} processed",
    )


def _ffprobe_streams(path: str) -> list[str]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", path],
        check=True, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return sorted(out.stdout.split())


def test_a_clip_uploaded_in_chunks_is_transcoded_and_published(
    celery_worker, creator_client, shop, tmp_path
):
    product = ProductFactory(shop=shop)
    data = clips.make_clip(tmp_path / "clip.mp4").read_bytes()
    response = tus_upload(
        creator_client, data, chunk_size=48 * 1024, caption="Fresh pasta #cooking",
        products=str(product.pk), cover_ms=2000,
    )  # fmt: skip
    assert response.status_code == 204, response.content

    video = _finished(int(response["Video-Id"]))
    assert video.status == Video.Status.READY, video.failure_reason
    assert list(published_videos()) == [video]
    assert (video.duration_ms, video.width, video.height) == (4000, 480, 854)

    # An H.264/AAC MP4 with its index before the media (plays before it has all arrived).
    mp4 = default_storage.open(video.mp4_file.name).read()
    assert mp4.index(b"moov") < mp4.index(b"mdat")
    assert _ffprobe_streams(default_storage.path(video.mp4_file.name)) == ["aac", "h264"]

    # The poster is a real picture of the clip's size.
    with Image.open(default_storage.open(video.poster.name)) as poster:
        assert (poster.format, poster.size) == ("JPEG", (480, 854))

    # HLS: a master listing two renditions, each a finished VOD playlist with its segments.
    master = default_storage.open(video.hls_master).read().decode()
    variants = [line for line in master.splitlines() if line.endswith(".m3u8")]
    assert variants == ["480p/index.m3u8", "360p/index.m3u8"]
    assert "RESOLUTION=360x640" in master
    base = video.hls_master.rsplit("/", 1)[0]
    for variant in variants:
        playlist = default_storage.open(f"{base}/{variant}").read().decode()
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in playlist
        assert "#EXT-X-ENDLIST" in playlist
        folder = f"{base}/{variant.rsplit('/', 1)[0]}"
        segments = [line for line in playlist.splitlines() if line.endswith(".ts")]
        assert segments
        assert all(default_storage.size(f"{folder}/{s}") > 0 for s in segments)

    detail = creator_client.get(f"/api/v1/feed/videos/mine/{video.pk}/").json()
    assert detail["status"] == "ready"
    assert detail["hls_url"].endswith("/hls/master.m3u8")
    assert detail["products"][0]["id"] == product.pk
    assert detail["hashtags"] == ["cooking"]


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _ffmpeg_child(pid: int) -> int | None:
    for child in _children(pid):
        try:
            if Path(f"/proc/{child}/comm").read_text().strip() == "ffmpeg":
                return child
        except FileNotFoundError:
            continue
    return None


@pytest.fixture
def _slow_worker_env(monkeypatch, settings):
    monkeypatch.setenv("VIDEO_PROCESSING_LEASE_SECONDS", "3")
    monkeypatch.setenv("VIDEO_X264_PRESET", "veryslow")
    settings.VIDEO_PROCESSING_LEASE_SECONDS = 3


@pytest.fixture
def slow_worker(_slow_worker_env, celery_worker):
    """A worker with a short processing lease and a slow x264 preset (set before it starts),
    so the test can kill it while ffmpeg is busy."""
    return celery_worker


def test_a_worker_killed_mid_transcode_leaves_the_video_retryable_and_a_retry_publishes_it(
    slow_worker, creator_client, monkeypatch, redis_url, tmp_path
):
    """About 20 s on a quiet machine, and it needs them: two worker processes start, one
    encodes slowly enough to be killed mid-way, and a 3 s lease must run out."""
    from shopfeed.celery import app
    from shopfeed.feed.tasks import sweep_videos_task

    data = clips.make_clip(tmp_path / "clip.mp4", seconds=8).read_bytes()
    video_id = int(tus_upload(creator_client, data, caption="#retry")["Video-Id"])

    ffmpeg = wait_until(
        lambda: _ffmpeg_child(slow_worker.proc.pid), timeout=30, interval=0.02,
        what="the worker's ffmpeg running",
    )  # fmt: skip
    assert Video.objects.get(pk=video_id).status == Video.Status.PROCESSING
    slow_worker.proc.send_signal(signal.SIGKILL)
    slow_worker.proc.wait(10)
    # ffmpeg dies with its worker rather than running on.
    wait_until(lambda: not os.path.exists(f"/proc/{ffmpeg}/comm") or
               Path(f"/proc/{ffmpeg}/stat").read_text().split()[2] == "Z",
               timeout=10, what="ffmpeg gone")  # fmt: skip

    video = Video.objects.get(pk=video_id)
    assert video.status == Video.Status.PROCESSING  # not ready, not failed: retryable
    assert (video.mp4_file.name, video.hls_master, video.poster.name) == ("", "", "")
    assert list(published_videos()) == []
    assert creator_client.get(f"/api/v1/feed/videos/mine/{video_id}/").json()["hls_url"] is None

    # Once its lease runs out the sweep queues it again, and a live worker finishes it.
    wait_until(lambda: video_id in processing.stale_video_ids(), timeout=10, what="lease out")
    monkeypatch.setenv("VIDEO_X264_PRESET", "veryfast")
    retry = start_celery_worker(
        broker_url=redis_url, queue=app.conf.task_default_queue, log_path=tmp_path / "retry.log"
    )
    try:
        sweep_videos_task.delay()
        video = _finished(video_id)
    finally:
        retry.stop()
    assert video.status == Video.Status.READY, video.failure_reason
    assert video.processing_attempts == 2
    assert list(published_videos()) == [video]
    # Only the attempt that published keeps files under the video's prefix.
    dirs, _ = default_storage.listdir(f"videos/{video_id}")
    assert dirs == [video.hls_master.split("/")[2]]
