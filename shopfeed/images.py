"""Uploaded images: size checked before decoding, decoded in full, and stored only as an image we
re-encoded under a name we chose (DESIGN.md section 9, "Images").

A file that decodes as an image may still carry a page after its last byte (a GIF followed by
`<script>`); stored under the client's `.html` name it would run on our origin. Re-encoding drops
whatever is not pixels, and the extension comes from the detected format. It lives in the
project package because every app stores images, accounts' avatars included, and apps import
downward only.
"""

import contextlib
import io
import uuid
import warnings

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import models
from django.db.models.fields.files import ImageFieldFile
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_ACCEPT = "image/jpeg,image/png,image/webp,image/gif"
# Detected format -> what we write and the extension we give it. A GIF becomes a PNG of its
# first frame, as does an animated WebP's first frame: a shop picture needs no animation, and
# decoding every frame of a small file can cost unbounded time.
OUTPUT = {
    "JPEG": ("JPEG", "jpg"),
    "PNG": ("PNG", "png"),
    "WEBP": ("WEBP", "webp"),
    "GIF": ("PNG", "png"),
}
MODES = {"JPEG": ("L", "RGB"), "PNG": ("L", "LA", "RGB", "RGBA"), "WEBP": ("RGB", "RGBA")}


def _decode(file) -> Image.Image:
    """The fully decoded image in `file`, or a ValidationError that says what to fix."""
    limit = settings.IMAGE_UPLOAD_MAX_BYTES
    size = getattr(file, "size", None)
    if size is None or size <= limit:
        # Pillow decodes from our own copy: closing the image then never closes the caller's
        # file, and a file that does not state its size is still held to the limit.
        file.seek(0)
        data = file.read(limit + 1)
        _rewind(file)
        size = len(data)
    if size > limit:
        raise ValidationError(
            f"The image is {size / 1_048_576:.1f} MB; the limit is {limit / 1_048_576:.0f} MB.",
            code="image_too_large",
        )
    formats = [f for f in settings.IMAGE_FORMATS if f in OUTPUT]
    im = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=formats)
            width, height = im.size
            if width * height > settings.IMAGE_MAX_PIXELS:
                raise Image.DecompressionBombError("too many pixels")
            # load() decodes every pixel: a truncated or corrupt file fails here, not later.
            im.load()
        return im
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        _close(im)
        raise ValidationError(
            f"The image has too many pixels (at most {settings.IMAGE_MAX_PIXELS:,}).",
            code="image_too_many_pixels",
        ) from None
    except UnidentifiedImageError:
        raise ValidationError(
            "Upload a JPEG, PNG, WebP or GIF image.", code="image_bad_type"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        _close(im)
        raise ValidationError(
            "The image file is incomplete or damaged; save it again and upload the new copy.",
            code="image_corrupt",
        ) from None


def _close(im) -> None:
    if im is not None:
        im.close()


def _rewind(file) -> None:
    with contextlib.suppress(AttributeError, ValueError):
        file.seek(0)


def validate_image_file(file) -> None:
    """Refuse oversized files before decoding; decode only the allowed formats, in full."""
    if getattr(file, "_committed", False):
        return  # already stored, so already re-encoded by us
    _decode(file).close()


def reencode_image(file) -> ContentFile:
    """A fresh encoding of the image in `file`, named `<random>.<ext>` from its format."""
    with _decode(file) as im:
        fmt, ext = OUTPUT[im.format]
        icc_profile = im.info.get("icc_profile")
        # The orientation is applied to the pixels, since the EXIF block (with any location
        # in it) is not copied over.
        upright = ImageOps.exif_transpose(im)
    if upright.mode not in MODES[fmt]:
        has_alpha = upright.mode in ("LA", "PA", "RGBA") or "transparency" in upright.info
        upright = upright.convert("RGBA" if has_alpha and "RGBA" in MODES[fmt] else "RGB")
        icc_profile = None  # it described the old colour space (CMYK, say)
    options = {"icc_profile": icc_profile} if icc_profile else {}
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = 90
    out = io.BytesIO()
    upright.save(out, format=fmt, **options)
    return ContentFile(out.getvalue(), name=f"{uuid.uuid4().hex}.{ext}")


class ReencodedImageFieldFile(ImageFieldFile):
    def save(self, name, content, save=True):
        # Every write of the field, whoever makes it (services, admin, shell), stores our copy.
        clean = reencode_image(content)
        super().save(clean.name, clean, save)


class UploadedImageField(models.ImageField):
    """An image users upload: validated, then stored only as our re-encoded copy."""

    attr_class = ReencodedImageFieldFile
    default_validators = [validate_image_file]

    def formfield(self, **kwargs):
        # A plain file field: forms.ImageField would try every format Pillow knows.
        return models.FileField.formfield(
            self,
            **{
                "form_class": forms.FileField,
                "widget": forms.ClearableFileInput(attrs={"accept": IMAGE_ACCEPT}),
                **kwargs,
            },
        )
