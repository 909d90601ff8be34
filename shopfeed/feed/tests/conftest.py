import base64

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

UPLOADS = "/api/v1/feed/uploads/"


@pytest.fixture(autouse=True)
def _upload_dir(settings, tmp_path):
    settings.VIDEO_UPLOAD_DIR = tmp_path / "uploads"


@pytest.fixture
def creator_client(creator):
    """The creator's app: token auth (CSRF does not apply to it)."""
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=creator)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def tus_metadata(**values) -> str:
    return ",".join(
        f"{key} {base64.b64encode(str(value).encode()).decode()}" for key, value in values.items()
    )


def tus_create(client, length: int, **metadata):
    return client.post(
        UPLOADS,
        HTTP_TUS_RESUMABLE="1.0.0",
        HTTP_UPLOAD_LENGTH=str(length),
        HTTP_UPLOAD_METADATA=tus_metadata(**metadata),
    )


def tus_patch(client, location: str, offset: int, chunk: bytes):
    return client.generic(
        "PATCH",
        location,
        chunk,
        content_type="application/offset+octet-stream",
        HTTP_TUS_RESUMABLE="1.0.0",
        HTTP_UPLOAD_OFFSET=str(offset),
    )


def tus_upload(client, data: bytes, *, chunk_size: int = 64 * 1024, **metadata):
    """The whole tus exchange, chunk by chunk; returns the last response."""
    created = tus_create(client, len(data), **{"filename": "clip.mp4", **metadata})
    assert created.status_code == 201, created.content
    location = created["Location"]
    offset = 0
    while True:
        response = tus_patch(client, location, offset, data[offset : offset + chunk_size])
        if response.status_code != 204 or "Video-Id" in response:
            return response
        assert int(response["Upload-Offset"]) == offset + min(chunk_size, len(data) - offset)
        offset = int(response["Upload-Offset"])
