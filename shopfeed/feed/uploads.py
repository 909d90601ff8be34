"""Resumable uploads (the tus 1.0 protocol's core, creation, termination and expiration): a
phone on a bad connection sends a 200 MB clip in chunks and, after a drop, asks how far the
server got (HEAD) and goes on from there.

Why our own server side of tus rather than a package: the clients are the well-kept ones
(tus-js-client on the dashboard, any tus client in an app); the Django server packages either
pin abandoned dependencies (drf-tus: django-fsm 2.8.1, jsonfield, six) and write to a
process-local temp dir with an unlocked offset, or are unmaintained (django-tus, 2020). The
part that matters here, who may write where and when, is ours anyway: only the creator who
started an upload writes to it, one request at a time (a conditional update takes the upload,
not a held transaction), the size is bounded before the first byte, and the file is judged by
ffprobe when the last byte arrives: refused, nothing of it is kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from shopfeed.errors import Conflict, NotFound, ShopFeedError

from . import media
from .models import Video, VideoUpload
from .posting import VideoDetails, attach_details, delete_stored, recheck_details

logger = logging.getLogger(__name__)

BLOCK = 1024 * 1024
MAX_OPEN_UPLOADS = 5


class UploadTooLarge(ShopFeedError):
    code = "video_too_large"
    status_code = 413


class UploadBusy(ShopFeedError):
    """Another request is writing to this upload; try again in a moment."""

    code = "upload_busy"
    status_code = 423


class UploadInterrupted(ShopFeedError):
    """The connection dropped in the middle of the chunk; ask how far it got (HEAD) and go on
    from there."""

    code = "upload_interrupted"


class OffsetMismatch(Conflict):
    code = "offset_mismatch"


@dataclass(frozen=True)
class ChunkResult:
    offset: int
    length: int
    video: Video | None  # set when this chunk finished the upload


def spool_path(upload_id) -> Path:
    return Path(settings.VIDEO_UPLOAD_DIR) / f"{upload_id}.part"


def _too_large(length: int) -> UploadTooLarge:
    limit = settings.VIDEO_UPLOAD_MAX_BYTES
    return UploadTooLarge(
        f"The video is {length / 1_048_576:.0f} MB; the limit is {limit / 1_048_576:.0f} MB.",
        field="upload_length",
    )


def start_upload(*, creator, length: int, details: VideoDetails, filename: str = "") -> VideoUpload:
    """Open an upload of `length` bytes for a clip with these (checked) details."""
    if length <= 0:
        raise ShopFeedError("The upload is empty.", code="empty_upload", field="upload_length")
    if length > settings.VIDEO_UPLOAD_MAX_BYTES:
        raise _too_large(length)
    now = timezone.now()
    open_uploads = VideoUpload.objects.filter(creator=creator, expires_at__gt=now).count()
    if open_uploads >= MAX_OPEN_UPLOADS:
        raise Conflict(
            f"You have {open_uploads} uploads in progress; finish or cancel one first.",
            code="too_many_uploads",
        )
    upload = VideoUpload.objects.create(
        creator=creator,
        length=length,
        details=details.as_json(),
        filename=filename[:255],
        expires_at=now + timedelta(hours=settings.VIDEO_UPLOAD_EXPIRE_HOURS),
    )
    path = spool_path(upload.pk)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return upload


def get_upload(*, upload_id, user) -> VideoUpload:
    upload = VideoUpload.objects.filter(
        pk=upload_id, creator_id=getattr(user, "pk", None), expires_at__gt=timezone.now()
    ).first()
    if upload is None:
        raise NotFound("No such upload (it may have expired); start the upload again.")
    return upload


def _take(upload_id, user, offset: int) -> tuple[VideoUpload, datetime]:
    """Hold the upload for one writer: a conditional update, so no transaction stays open
    while the bytes arrive. Returns the upload and the lease that identifies this writer."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.VIDEO_UPLOAD_WRITE_LEASE_SECONDS)
    taken = (
        VideoUpload.objects.filter(pk=upload_id, creator_id=user.pk, offset=offset)
        .filter(expires_at__gt=now)
        .filter(Q(writing_until__isnull=True) | Q(writing_until__lt=now))
        .update(writing_until=lease)
    )
    upload = get_upload(upload_id=upload_id, user=user)
    if not taken:
        if upload.offset != offset:
            raise OffsetMismatch(
                f"The upload is at byte {upload.offset}, not {offset}; resume from there."
            )
        raise UploadBusy()
    return upload, lease


def write_chunk(
    *, upload_id, user, offset: int, content_length: int, read: Callable[[int], bytes]
) -> ChunkResult:
    """Append the next chunk at `offset`; the last one is judged and becomes a Video."""
    upload, lease = _take(upload_id, user, offset)
    if content_length > upload.length - offset:
        VideoUpload.objects.filter(pk=upload.pk, writing_until=lease).update(writing_until=None)
        raise ShopFeedError(
            f"This chunk would go past the {upload.length} bytes announced.",
            code="chunk_too_long",
        )
    written = 0
    renewed = time.monotonic()
    try:
        with open(spool_path(upload.pk), "r+b") as fh:
            fh.seek(offset)
            while written < content_length:
                block = read(min(BLOCK, content_length - written))
                if not block:
                    break
                fh.write(block)
                written += len(block)
                if time.monotonic() - renewed > settings.VIDEO_UPLOAD_WRITE_LEASE_SECONDS / 4:
                    new_lease = timezone.now() + timedelta(
                        seconds=settings.VIDEO_UPLOAD_WRITE_LEASE_SECONDS
                    )
                    VideoUpload.objects.filter(pk=upload.pk, writing_until=lease).update(
                        writing_until=new_lease
                    )
                    lease, renewed = new_lease, time.monotonic()
    finally:
        # What arrived counts even when the client went away mid-chunk (tus resumes from it).
        done = offset + written == upload.length
        VideoUpload.objects.filter(pk=upload.pk, writing_until=lease).update(
            offset=F("offset") + written, writing_until=lease if done else None
        )
    if not done:
        return ChunkResult(offset=offset + written, length=upload.length, video=None)
    upload.offset = upload.length
    try:
        video = _finish(upload)
    except ShopFeedError:
        raise  # refused: the upload is gone
    except BaseException:
        # Kept for a retry (a PATCH of no bytes at the end finishes it again).
        VideoUpload.objects.filter(pk=upload.pk, writing_until=lease).update(writing_until=None)
        raise
    return ChunkResult(offset=upload.length, length=upload.length, video=video)


def discard_upload(upload: VideoUpload) -> None:
    spool_path(upload.pk).unlink(missing_ok=True)
    VideoUpload.objects.filter(pk=upload.pk).delete()


def cancel_upload(*, upload_id, user) -> None:
    discard_upload(get_upload(upload_id=upload_id, user=user))


def _finish(upload: VideoUpload) -> Video:
    """The whole file is here: judge it, keep it as a Video, or refuse it and keep nothing."""
    try:
        video = accept_video_file(
            creator=upload.creator,
            path=spool_path(upload.pk),
            details=upload.details,
            name=str(upload.pk),
            upload=upload,
        )
    except ShopFeedError:
        discard_upload(upload)
        raise
    spool_path(upload.pk).unlink(missing_ok=True)
    return video


def accept_video_file(
    *, creator, path: Path, details: dict, name: str, upload: VideoUpload | None = None
) -> Video:
    """Judge the file at `path` by its content, then keep it as a new Video (status uploaded)
    with these details and queue its processing. A refused file raises InvalidVideo (or the
    details' error) and nothing is stored."""
    info = media.probe(path)
    checked = recheck_details(creator=creator, details=details)
    ext = "webm" if info.container in ("matroska", "webm") else "mp4"
    with open(path, "rb") as fh:
        stored = default_storage.save(f"videos/sources/{name}.{ext}", File(fh))
    try:
        with transaction.atomic():
            video = Video.objects.create(
                creator=creator,
                caption=checked.caption,
                visibility=checked.visibility,
                publish_at=checked.publish_at or timezone.now(),
                cover_offset_ms=min(checked.cover_offset_ms, info.duration_ms),
                source_file=stored,
                duration_ms=info.duration_ms,
                width=info.width,
                height=info.height,
                size_bytes=info.size_bytes,
            )
            attach_details(video=video, details=checked)
            if upload is not None:
                VideoUpload.objects.filter(pk=upload.pk).delete()
            from .tasks import process_video_task

            transaction.on_commit(lambda: process_video_task.delay(video.pk))
    except BaseException:
        delete_stored([stored])
        raise
    return video


def expire_uploads() -> int:
    """Forget uploads nobody finished in time (rows and bytes)."""
    expired = list(VideoUpload.objects.filter(expires_at__lte=timezone.now())[:500])
    for upload in expired:
        discard_upload(upload)
    return len(expired)
