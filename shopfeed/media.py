"""Serving uploaded media in development (production puts object storage or a CDN in front,
on a separate origin: MEDIA_URL in .env.example)."""

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404
from django.views import static

# Types a browser renders as a picture and never as a page; SVG can carry script, so it is
# not one of them.
IMAGE_TYPES = {"image/png", "image/jpeg", "image/webp", "image/gif"}


def serve_media(request, path):
    """django.views.static.serve, but no stored file can act as a page of our site."""
    try:
        response = static.serve(request, path, document_root=settings.MEDIA_ROOT)
    except SuspiciousFileOperation:
        raise Http404("Not found.") from None
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    content_type = response.get("Content-Type", "").split(";")[0].strip()
    if response.status_code == 200 and content_type not in IMAGE_TYPES:
        response["Content-Type"] = "application/octet-stream"
        response["Content-Disposition"] = "attachment"
    return response
