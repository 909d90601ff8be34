"""Upload validation and thumbnails (DESIGN.md section 9, "Images")."""

import contextlib
import io
import warnings

from django.conf import settings
from django.core.exceptions import ValidationError
from PIL import Image, ImageOps, UnidentifiedImageError


def validate_image_file(file) -> None:
    """Refuse oversized files before decoding; decode only the allowed formats."""
    size = getattr(file, "size", None)
    limit = settings.IMAGE_UPLOAD_MAX_BYTES
    if size is not None and size > limit:
        raise ValidationError(
            f"The image is {size / 1_048_576:.1f} MB; the limit is {limit / 1_048_576:.0f} MB.",
            code="image_too_large",
        )
    formats = settings.IMAGE_FORMATS
    try:
        file.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file, formats=formats) as im:
                width, height = im.size
                if width * height > settings.IMAGE_MAX_PIXELS:
                    raise Image.DecompressionBombError("too many pixels")
                im.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValidationError(
            f"The image has too many pixels (at most {settings.IMAGE_MAX_PIXELS:,}).",
            code="image_too_many_pixels",
        ) from None
    except UnidentifiedImageError:
        raise ValidationError(
            "Upload a JPEG, PNG, WebP or GIF image.", code="image_bad_type"
        ) from None
    except (OSError, SyntaxError, ValueError):
        raise ValidationError("The image file is damaged.", code="image_corrupt") from None
    finally:
        with contextlib.suppress(AttributeError, ValueError):
            file.seek(0)


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
