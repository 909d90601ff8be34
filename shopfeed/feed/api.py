"""API v1 for short videos: the resumable upload (tus 1.0: creation, termination,
expiration), the creator's videos, a video's detail, deleting one's own, reporting.

The upload speaks tus so any tus client works (tus-js-client on the dashboard):
`POST /api/v1/feed/uploads/` with `Tus-Resumable: 1.0.0`, `Upload-Length` and
`Upload-Metadata` (base64 values: `filename`, `caption`, `products` as comma-separated ids,
`cover_ms`, `visibility`, `publish_at` as ISO 8601) answers 201 with `Location`; then
`PATCH <Location>` with `Content-Type: application/offset+octet-stream` and `Upload-Offset`
sends each chunk, `HEAD <Location>` says how far the server got. The chunk that completes the
file answers with `Video-Id` once the file is accepted, or a 4xx saying why it is refused.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import IsAuthenticated, IsAuthenticatedOrReadOnly
from rest_framework.response import Response
from rest_framework.views import APIView

from shopfeed.errors import NotAllowed, NotFound, ShopFeedError
from shopfeed.middleware import has_nul
from shopfeed.pagination import Pagination
from shopfeed.parsers import JSONParser, SafeParser
from shopfeed.schema import ErrorSerializer

from . import moderation, posting, selectors, uploads
from .models import Video
from .serializers import (
    ReportResultSerializer,
    ReportSerializer,
    UploadStateSerializer,
    VideoSerializer,
)

app_name = "feed_api"

TUS_VERSION = "1.0.0"
TUS_CONTENT_TYPE = "application/offset+octet-stream"


# The tus headers are the protocol's (as Authorization and Content-Type are HTTP's), so they
# are described in each operation's text rather than declared as parameters: a schema that
# declares headers makes fuzzers call any extra header invalid input, which HTTP says it is not.
TUS_HEADERS = (
    "Headers (tus 1.0): `Tus-Resumable: 1.0.0` on every request; `Upload-Length` (bytes, at "
    "most VIDEO_UPLOAD_MAX_BYTES) and `Upload-Metadata` on creation; `Upload-Offset` and "
    "`Content-Type: application/offset+octet-stream` on each chunk."
)


class TusChunkParser(SafeParser, BaseParser):
    """Declares the tus chunk body; the view streams it to disk itself, never into memory."""

    media_type = TUS_CONTENT_TYPE

    def parse(self, stream, media_type=None, parser_context=None):
        return {}


class TusError(ShopFeedError):
    pass


class UnsupportedChunkType(ShopFeedError):
    code = "unsupported_media_type"
    status_code = 415


def _int_header(request, name: str, *, required: bool = True) -> int | None:
    raw = request.headers.get(name)
    if raw is None:
        if required:
            raise TusError(f"The {name} header is required.", code="missing_header")
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise TusError(f"{name} must be a whole number of bytes.", code="bad_header")
    return int(raw)


def _metadata(raw: str) -> dict[str, str]:
    """tus Upload-Metadata: comma-separated `key base64value` pairs."""
    out: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in raw.split(","))):
        key, _, value = pair.partition(" ")
        try:
            text = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise TusError(
                f"Upload-Metadata value for {key!r} is not base64 UTF-8.", code="bad_metadata"
            ) from None
        if has_nul([key, text]):
            raise TusError("Upload-Metadata may not contain NUL characters.", code="bad_metadata")
        out[key] = text
    return out


def _details_from(meta: dict[str, str], creator) -> posting.VideoDetails:
    try:
        product_ids = [int(p) for p in meta.get("products", "").split(",") if p.strip()]
        cover_ms = int(meta.get("cover_ms") or 0)
        if any(abs(n) > 2**63 for n in (*product_ids, cover_ms)):
            raise ValueError("out of range")
    except ValueError:
        raise TusError(
            "products are comma-separated product ids and cover_ms a whole number.",
            code="bad_metadata",
        ) from None
    publish_at = None
    if meta.get("publish_at"):
        try:
            publish_at = datetime.fromisoformat(meta["publish_at"])
        except ValueError:
            raise TusError(
                "publish_at is an ISO 8601 time (2026-12-24T18:00:00+01:00).",
                code="bad_metadata",
                field="publish_at",
            ) from None
    return posting.check_details(
        creator=creator,
        caption=meta.get("caption", ""),
        product_ids=product_ids,
        cover_offset_ms=cover_ms,
        visibility=meta.get("visibility") or Video.Visibility.PUBLIC,
        publish_at=publish_at,
    )


class TusView(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [TusChunkParser, JSONParser]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # Only for the protocol's own writes (another method is a 405, as anywhere).
        if request.method in ("POST", "PATCH", "DELETE") and hasattr(self, request.method.lower()):
            version = request.headers.get("Tus-Resumable")
            if version != TUS_VERSION:
                raise TusError(
                    f"Send Tus-Resumable: {TUS_VERSION} (the tus protocol version this speaks).",
                    code="tus_version",
                )

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Tus-Resumable"] = TUS_VERSION
        response["Cache-Control"] = "no-store"
        return response


def _upload_url(request, upload) -> str:
    return request.build_absolute_uri(reverse("feed_api:upload-detail", args=[upload.pk]))


class UploadCreateView(TusView):
    @extend_schema(
        operation_id="feed_upload_create",
        summary="Start a resumable video upload (tus creation)",
        description=f"{__doc__}\n\n{TUS_HEADERS}",
        request=None,
        responses={201: UploadStateSerializer},
    )
    def post(self, request):
        length = _int_header(request, "Upload-Length")
        meta = _metadata(request.headers.get("Upload-Metadata", ""))
        details = _details_from(meta, request.user)
        upload = uploads.start_upload(
            creator=request.user,
            length=length or 0,
            details=details,
            filename=meta.get("filename", ""),
        )
        response = Response(UploadStateSerializer(upload).data, status=status.HTTP_201_CREATED)
        response["Location"] = _upload_url(request, upload)
        response["Upload-Expires"] = upload.expires_at.strftime("%a, %d %b %Y %H:%M:%S GMT")
        return response

    @extend_schema(exclude=True)
    def options(self, request, *args, **kwargs):
        response = Response(status=status.HTTP_204_NO_CONTENT)
        response["Tus-Version"] = TUS_VERSION
        response["Tus-Extension"] = "creation,termination,expiration"
        response["Tus-Max-Size"] = str(settings.VIDEO_UPLOAD_MAX_BYTES)
        return response


class UploadDetailView(TusView):
    def _headers(self, response, upload):
        response["Upload-Offset"] = str(upload.offset)
        response["Upload-Length"] = str(upload.length)
        return response

    @extend_schema(
        operation_id="feed_upload_retrieve",
        summary="How far an upload got (tus HEAD answers the same in headers)",
        responses={200: UploadStateSerializer, 403: ErrorSerializer},
    )
    def get(self, request, upload_id):
        upload = uploads.get_upload(upload_id=upload_id, user=request.user)
        return self._headers(Response(UploadStateSerializer(upload).data), upload)

    @extend_schema(
        operation_id="feed_upload_chunk",
        summary="Send the next chunk of an upload (tus PATCH)",
        description=TUS_HEADERS,
        request={TUS_CONTENT_TYPE: OpenApiTypes.BINARY},
        responses={
            204: OpenApiResponse(
                description="Stored; `Upload-Offset` says how far. The last chunk also "
                "answers `Video-Id` (the file was accepted and is being processed)."
            ),
            423: OpenApiResponse(description="Another request is writing to this upload."),
        },
    )
    def patch(self, request, upload_id):
        if request.content_type.split(";")[0].strip() != TUS_CONTENT_TYPE:
            raise UnsupportedChunkType(f"Send chunks as {TUS_CONTENT_TYPE}.")
        offset = _int_header(request, "Upload-Offset") or 0
        content_length = _int_header(request, "Content-Length", required=False) or 0
        stream = request.stream

        def read(n: int) -> bytes:
            if stream is None:
                return b""
            try:
                return stream.read(n)
            except OSError:  # the client went away mid-chunk; what arrived is kept
                raise uploads.UploadInterrupted() from None

        result = uploads.write_chunk(
            upload_id=upload_id,
            user=request.user,
            offset=offset,
            content_length=content_length,
            read=read,
        )
        response = Response(status=status.HTTP_204_NO_CONTENT)
        response["Upload-Offset"] = str(result.offset)
        if result.video is not None:
            response["Video-Id"] = str(result.video.pk)
            response["Video-Url"] = request.build_absolute_uri(
                reverse("feed_api:video-detail", args=[result.video.pk])
            )
        return response

    @extend_schema(
        operation_id="feed_upload_destroy",
        summary="Cancel an upload (tus termination): its bytes are deleted",
        responses={204: None},
    )
    def delete(self, request, upload_id):
        uploads.cancel_upload(upload_id=upload_id, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    summary="My videos, newest first, in every state (processing, failed, hidden)",
    responses={200: VideoSerializer(many=True), 403: ErrorSerializer},
)
class MyVideosView(generics.ListAPIView):
    permission_classes = [IsAuthenticated]
    serializer_class = VideoSerializer
    pagination_class = Pagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Video.objects.none()
        return selectors.videos_of_creator(creator=self.request.user)


class VideoDetailView(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    def _video(self, request, video_id: int) -> Video:
        video = selectors.video_for_viewer(viewer=request.user, video_id=video_id)
        if video is None:
            raise NotFound("No such video.")
        return video

    @extend_schema(summary="A video", responses={200: VideoSerializer})
    def get(self, request, video_id: int):
        video = self._video(request, video_id)
        return Response(VideoSerializer(video, context={"request": request}).data)

    @extend_schema(summary="Delete my video (and its files)", responses={204: None})
    def delete(self, request, video_id: int):
        video = self._video(request, video_id)
        if video.creator_id != request.user.pk:
            raise NotAllowed("Only the creator can delete this video.")
        posting.delete_video(video=video, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VideoReportView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Report a video to the moderators (once per viewer)",
        request=ReportSerializer,
        responses={201: ReportResultSerializer},
    )
    def post(self, request, video_id: int):
        video = get_object_or_404(selectors.published_videos(), pk=video_id)
        serializer = ReportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        report = moderation.report_video(video=video, reporter=request.user,
                                         **serializer.validated_data)  # fmt: skip
        return Response(ReportResultSerializer(report).data, status=status.HTTP_201_CREATED)


urlpatterns = [
    path("feed/uploads/", UploadCreateView.as_view(), name="upload-create"),
    path("feed/uploads/<uuid:upload_id>/", UploadDetailView.as_view(), name="upload-detail"),
    path("feed/videos/mine/", MyVideosView.as_view(), name="my-videos"),
    path("feed/videos/mine/<int:video_id>/", VideoDetailView.as_view(), name="video-detail"),
    path("feed/videos/<int:video_id>/reports/", VideoReportView.as_view(), name="video-report"),
]
