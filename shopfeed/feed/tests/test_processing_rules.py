"""Processing's rules without a worker: failures the creator is told about, the attempt limit,
a claim that another worker holds, and the sweep's upkeep."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from shopfeed.feed import processing
from shopfeed.feed.models import Video, VideoUpload
from shopfeed.feed.tests import clips
from shopfeed.feed.tests.factories import VideoFactory
from shopfeed.feed.uploads import spool_path

pytestmark = pytest.mark.django_db


@pytest.fixture
def uploaded(creator, tmp_path):
    data = clips.make_clip(tmp_path / "clip.mp4").read_bytes()
    name = default_storage.save("videos/sources/test.mp4", ContentFile(data))
    return VideoFactory(creator=creator, status=Video.Status.UPLOADED, source_file=name,
                        poster="", mp4_file="", hls_master="")  # fmt: skip


def test_a_clip_ffmpeg_cannot_convert_fails_with_a_reason_and_keeps_no_renditions(
    uploaded, settings
):
    settings.FFMPEG_BIN = "false"  # the tool exits with an error, as on a damaged stream
    processing.process_video(video_id=uploaded.pk)
    uploaded.refresh_from_db()
    assert uploaded.status == Video.Status.FAILED
    assert "could not be converted" in uploaded.failure_reason
    assert (uploaded.mp4_file.name, uploaded.hls_master) == ("", "")
    assert not default_storage.exists(f"videos/{uploaded.pk}")


def test_a_video_held_by_a_live_lease_is_left_to_its_worker(uploaded):
    lease = timezone.now() + timedelta(minutes=5)
    Video.objects.filter(pk=uploaded.pk).update(
        status=Video.Status.PROCESSING, processing_lease_until=lease, processing_attempts=1
    )
    processing.process_video(video_id=uploaded.pk)
    uploaded.refresh_from_db()
    assert (uploaded.status, uploaded.processing_attempts) == (Video.Status.PROCESSING, 1)


def test_after_the_last_attempt_the_video_fails_with_a_reason(uploaded, settings):
    Video.objects.filter(pk=uploaded.pk).update(
        status=Video.Status.PROCESSING,
        processing_attempts=settings.VIDEO_PROCESSING_MAX_ATTEMPTS,
        processing_lease_until=timezone.now() - timedelta(seconds=1),
    )
    processing.process_video(video_id=uploaded.pk)
    uploaded.refresh_from_db()
    assert uploaded.status == Video.Status.FAILED
    assert "after several tries" in uploaded.failure_reason


def test_the_sweep_finds_stale_videos_and_forgets_expired_uploads(creator, uploaded, settings):
    fresh = VideoFactory(creator=creator, status=Video.Status.UPLOADED, poster="", mp4_file="")
    Video.objects.filter(pk=uploaded.pk).update(
        status=Video.Status.PROCESSING, processing_lease_until=timezone.now() - timedelta(1)
    )
    expired = VideoUpload.objects.create(
        creator=creator, length=10, expires_at=timezone.now() - timedelta(minutes=1)
    )
    Path(settings.VIDEO_UPLOAD_DIR).mkdir(parents=True, exist_ok=True)
    spool_path(expired.pk).write_bytes(b"0123")
    stale, forgotten = processing.sweep_videos()
    assert stale == [uploaded.pk]  # the fresh upload is still waiting for its first run
    assert fresh.pk not in stale
    assert forgotten == 1
    assert not VideoUpload.objects.exists()
    assert not spool_path(expired.pk).exists()
