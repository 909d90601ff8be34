"""Hostile uploads and the check that what got stored is only an image we wrote."""

import io
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

SCRIPT = b"<script>window.__pwned = 1; alert(document.domain)</script>"
OUR_EXTENSIONS = {".png", ".jpg", ".webp"}


def gif_bytes(size=(16, 16), color=(10, 200, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="GIF")
    return buf.getvalue()


def polyglot(name="pwn.html") -> SimpleUploadedFile:
    """A valid GIF with a script after it: a browser sniffing it as HTML would run the script."""
    return SimpleUploadedFile(name, gif_bytes() + SCRIPT, content_type="image/gif")


def truncated_png(name="cut.png") -> SimpleUploadedFile:
    buf = io.BytesIO()
    Image.effect_noise((300, 300), 80).convert("RGB").save(buf, format="PNG")
    data = buf.getvalue()
    return SimpleUploadedFile(name, data[: len(data) // 2], content_type="image/png")


def assert_stored_safely(field_file):
    """The stored file is an image we wrote: our extension, no trace of the payload."""
    path = Path(field_file.path)
    assert path.suffix in OUR_EXTENSIONS, path.name
    assert "pwn" not in path.name
    assert b"<script" not in path.read_bytes()
    with Image.open(path) as im:
        im.load()
        assert im.format in {"PNG", "JPEG", "WEBP"}
