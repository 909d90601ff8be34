"""Processing an uploaded video into what viewers play (uploaded → processing → ready, or
failed with the reason the creator sees).

A worker takes the video with a conditional update that sets a lease and counts the attempt;
the attempt number is this worker's claim. It renews the lease while ffmpeg runs, writes the
renditions under a prefix of its own (`videos/<id>/a<attempt>-<random>/`), and only then, in
one transaction and only if the claim is still its own, points the row at them and flips it to
ready. A worker killed mid-way leaves the row in processing with a lease that runs out; the
sweep queues it again, and what the dead attempt wrote is deleted once a later one publishes.
Nothing half-made is ever published.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from . import media
from .models import Video
from .posting import delete_stored, delete_stored_tree, storage_prefix
from .uploads import expire_uploads

logger = logging.getLogger(__name__)

UNPROCESSED = (Video.Status.UPLOADED, Video.Status.PROCESSING)


def _lease() -> timedelta:
    return timedelta(seconds=settings.VIDEO_PROCESSING_LEASE_SECONDS)


def _claim(video_id: int) -> int | None:
    """Take the video for processing; returns this attempt's number, or None when it is done,
    failed, or another worker holds a live lease on it."""
    now = timezone.now()
    taken = (
        Video.objects.filter(pk=video_id, status__in=UNPROCESSED)
        .filter(Q(processing_lease_until__isnull=True) | Q(processing_lease_until__lt=now))
        .filter(processing_attempts__lt=settings.VIDEO_PROCESSING_MAX_ATTEMPTS)
        .update(
            status=Video.Status.PROCESSING,
            processing_lease_until=now + _lease(),
            processing_attempts=F("processing_attempts") + 1,
            updated_at=now,
        )
    )
    if not taken:
        _fail_if_exhausted(video_id)
        return None
    return Video.objects.values_list("processing_attempts", flat=True).get(pk=video_id)


def _fail_if_exhausted(video_id: int) -> None:
    now = timezone.now()
    Video.objects.filter(
        pk=video_id,
        status__in=UNPROCESSED,
        processing_attempts__gte=settings.VIDEO_PROCESSING_MAX_ATTEMPTS,
    ).filter(Q(processing_lease_until__isnull=True) | Q(processing_lease_until__lt=now)).update(
        status=Video.Status.FAILED,
        failure_reason=(
            "We could not process this video after several tries. Upload it again; if it "
            "fails again, export it from your editor as MP4 first."
        ),
        processing_lease_until=None,
        updated_at=now,
    )


def _ours(video_id: int, attempt: int):
    return Video.objects.filter(
        pk=video_id, status=Video.Status.PROCESSING, processing_attempts=attempt
    )


def _fetch_source(video: Video, work: Path) -> Path:
    """A local copy of the uploaded file (the storage backend may be a bucket)."""
    name = video.source_file.name or ""
    local = work / f"source{Path(name).suffix}"
    with default_storage.open(name, "rb") as src, open(local, "wb") as dst:
        shutil.copyfileobj(src, dst, length=1024 * 1024)
    return local


def _store(out_dir: Path, output: media.Output, prefix: str, stored: list[str]) -> None:
    for rel in output.files:
        name = f"{prefix}{rel}"
        with open(out_dir / rel, "rb") as fh:
            saved = default_storage.save(name, File(fh))
        stored.append(saved)
        if saved != name:  # the playlists refer to their segments by these exact names
            raise RuntimeError(f"storage renamed {name} to {saved}")


def process_video(*, video_id: int) -> None:
    """Transcode the video and publish the result; safe to run twice or concurrently."""
    attempt = _claim(video_id)
    if attempt is None:
        return
    video = Video.objects.get(pk=video_id)
    prefix = f"{storage_prefix(video_id)}a{attempt}-{uuid.uuid4().hex[:8]}/"
    work = Path(tempfile.mkdtemp(prefix=f"shopfeed-video-{video_id}-"))
    stored: list[str] = []

    def heartbeat() -> None:
        _ours(video_id, attempt).update(processing_lease_until=timezone.now() + _lease())

    try:
        source = _fetch_source(video, work)
        info = media.probe(source)
        out_dir = work / "out"
        output = media.transcode(
            source, out_dir, info=info, cover_offset_ms=video.cover_offset_ms, heartbeat=heartbeat
        )
        heartbeat()
        _store(out_dir, output, prefix, stored)
        if not _publish(video_id, attempt, prefix, output, info):
            delete_stored(stored)
    except (media.InvalidVideo, media.TranscodeError) as exc:
        logger.warning("video %s failed processing: %s", video_id, exc)
        delete_stored(stored)
        reason = (
            exc.message
            if isinstance(exc, media.InvalidVideo)
            else "This video could not be converted: the file seems damaged inside. Export it "
            "again from your editor and upload the new copy."
        )
        _ours(video_id, attempt).update(
            status=Video.Status.FAILED,
            failure_reason=reason,
            processing_lease_until=None,
            updated_at=timezone.now(),
        )
    except BaseException:
        # Anything else (storage, database) is worth another try: give the video back.
        delete_stored(stored)
        _ours(video_id, attempt).update(
            status=Video.Status.UPLOADED, processing_lease_until=None, updated_at=timezone.now()
        )
        raise
    finally:
        media.remove_tree(work)


def _publish(video_id: int, attempt: int, prefix: str, output: media.Output, info) -> bool:
    """Point the row at the new files and make it ready, in one transaction, if this attempt
    still holds it. Earlier attempts' leftovers go once that is committed."""
    with transaction.atomic():
        video = _ours(video_id, attempt).select_for_update(of=("self",)).first()
        if video is None:
            return False
        video.mp4_file.name = f"{prefix}{output.mp4}"
        video.hls_master = f"{prefix}{output.hls_master}"
        video.poster.name = f"{prefix}{output.poster}"
        video.duration_ms = info.duration_ms
        video.width = output.renditions[0].width
        video.height = output.renditions[0].height
        video.status = Video.Status.READY
        video.failure_reason = ""
        video.processing_lease_until = None
        video.processed_at = timezone.now()
        video.save()
        keep = prefix.rstrip("/").rsplit("/", 1)[1]
        transaction.on_commit(lambda: _delete_other_attempts(video_id, keep))
    return True


def _delete_other_attempts(video_id: int, keep: str) -> None:
    base = storage_prefix(video_id).rstrip("/")
    try:
        dirs, _ = default_storage.listdir(base)
    except FileNotFoundError:
        return
    for name in dirs:
        if name != keep:
            delete_stored_tree(f"{base}/{name}")


def stale_video_ids(limit: int = 100) -> list[int]:
    """Videos to queue again: a lease that ran out (its worker died), or an upload whose
    first queueing was lost (waiting longer than a lease without one)."""
    now = timezone.now()
    return list(
        Video.objects.filter(status__in=UNPROCESSED)
        .filter(
            Q(processing_lease_until__lt=now)
            | Q(processing_lease_until__isnull=True, updated_at__lt=now - _lease())
        )
        .order_by("updated_at")
        .values_list("pk", flat=True)[:limit]
    )


def sweep_videos() -> tuple[list[int], int]:
    """Beat's periodic upkeep: the stale videos to queue again, and expired uploads removed."""
    return stale_video_ids(), expire_uploads()
