"""Serving uploaded media in development (production puts object storage or a CDN in front,
on a separate origin: MEDIA_URL in .env.example)."""

import posixpath

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404
from django.views import static

# Types a browser renders as a picture and never as a page; SVG can carry script, so it is
# not one of them.
IMAGE_TYPES = {"image/png", "image/jpeg", "image/webp", "image/gif"}
# What video processing wrote (shopfeed.feed, under videos/<id>/): played by the browser or
# hls.js, never rendered as a page. Named here by extension, since Python's table calls .ts a
# Qt translation file.
VIDEO_TYPES = {".mp4": "video/mp4", ".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t"}
# Uploaded originals are kept for re-processing only, never served.
PRIVATE_PREFIXES = ("videos/sources/",)


def serve_media(request, path):
    """django.views.static.serve, but no stored file can act as a page of our site."""
    path = posixpath.normpath(path).lstrip("/")  # as static.serve will read it
    if path.startswith(PRIVATE_PREFIXES):
        raise Http404("Not found.")
    try:
        response = static.serve(request, path, document_root=settings.MEDIA_ROOT)
    except SuspiciousFileOperation:
        raise Http404("Not found.") from None
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    content_type = response.get("Content-Type", "").split(";")[0].strip()
    video_type = VIDEO_TYPES.get(path[path.rfind(".") :].lower()) if "." in path else None
    if response.status_code == 200 and video_type and path.startswith("videos/"):
        response["Content-Type"] = video_type
        return response
    if response.status_code == 200 and content_type not in IMAGE_TYPES:
        response["Content-Type"] = "application/octet-stream"
        response["Content-Disposition"] = "attachment"
    return response
