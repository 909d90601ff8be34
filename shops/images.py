"""Product and shop images: upload checks (shared with every app, in shopfeed.images) and
thumbnails."""

import io

from django.conf import settings
from PIL import Image, ImageOps

from shopfeed.images import (  # noqa: F401 - the shops-facing names
    IMAGE_ACCEPT,
    UploadedImageField,
    reencode_image,
    validate_image_file,
)


def render_thumbnail(source, size: tuple[int, int] | None = None) -> bytes:
    """A JPEG thumbnail of `source` (a file object), orientation fixed, aspect kept."""
    size = size or settings.THUMBNAIL_SIZE
    with Image.open(source, formats=settings.IMAGE_FORMATS) as im:
        im = ImageOps.exif_transpose(im)
        im.thumbnail(size)
        if im.mode not in ("RGB", "L"):
            im = im.convert("RGB")
        out = io.BytesIO()
        im.save(out, format="JPEG", quality=85, optimize=True)
        return out.getvalue()
