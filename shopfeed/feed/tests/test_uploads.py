"""Uploading a clip over tus: chunks, resuming, who may upload, and files refused by what
they are (ffprobe), leaving nothing behind."""

from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from rest_framework.test import APIClient

from shopfeed.feed.models import Video, VideoUpload
from shopfeed.feed.tests import clips
from shopfeed.feed.tests.conftest import UPLOADS, tus_create, tus_patch, tus_upload
from shops.tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _stored_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _spooled_files() -> list[Path]:
    root = Path(settings.VIDEO_UPLOAD_DIR)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="module")
def good_clip(clip_dir) -> bytes:
    return clips.make_clip(clip_dir / "good.mp4").read_bytes()


def test_a_clip_sent_in_chunks_becomes_an_uploaded_video_with_its_details(
    creator_client, creator, shop, good_clip
):
    mug, tee = ProductFactory(shop=shop), ProductFactory(shop=shop)
    response = tus_upload(
        creator_client,
        good_clip,
        caption="Morning pour-over #Coffee #slowliving #coffee",
        products=f"{tee.pk},{mug.pk}",
        cover_ms=1500,
        visibility="followers",
    )
    assert response.status_code == 204, response.content
    video = Video.objects.get(pk=response["Video-Id"])
    assert video.creator == creator
    assert video.status == Video.Status.UPLOADED
    assert (video.duration_ms, video.width, video.height) == (4000, 480, 854)
    assert video.visibility == Video.Visibility.FOLLOWERS
    assert video.cover_offset_ms == 1500
    assert sorted(video.hashtags.values_list("name", flat=True)) == ["coffee", "slowliving"]
    assert list(video.tagged_products.values_list("product_id", flat=True)) == [tee.pk, mug.pk]
    assert video.source_file.read() == good_clip
    # The upload is done with: no session row, nothing left in the spool.
    assert not VideoUpload.objects.exists()
    assert _spooled_files() == []


def test_an_interrupted_upload_resumes_from_the_offset_the_server_reports(
    creator_client, good_clip
):
    created = tus_create(creator_client, len(good_clip), filename="clip.mp4")
    location = created["Location"]
    half = len(good_clip) // 2
    assert tus_patch(creator_client, location, 0, good_clip[:half]).status_code == 204
    # The phone lost the connection and does not know how far it got: it asks.
    head = creator_client.head(location, HTTP_TUS_RESUMABLE="1.0.0")
    assert head.status_code == 200
    assert int(head["Upload-Offset"]) == half
    assert int(head["Upload-Length"]) == len(good_clip)
    # A chunk sent from the wrong place is refused and changes nothing.
    wrong = tus_patch(creator_client, location, 0, good_clip[:100])
    assert wrong.status_code == 409
    assert wrong.json()["code"] == "offset_mismatch"
    done = tus_patch(creator_client, location, half, good_clip[half:])
    assert done.status_code == 204
    assert Video.objects.get(pk=done["Video-Id"]).source_file.read() == good_clip


@pytest.mark.parametrize(
    ("make", "code", "words"),
    [
        ("not_a_video", "video_unreadable", "not a video"),
        ("two_seconds", "video_too_short", "at least 3 s"),
        ("twenty_minutes", "video_too_long", "20.0 minutes"),
        ("eight_k", "video_bad_resolution", "7680×4320"),
        ("truncated", "video_damaged", "incomplete or damaged"),
    ],
)
def test_a_file_that_is_not_an_acceptable_video_is_refused_and_nothing_is_kept(
    creator_client, clip_dir, good_clip, make, code, words
):
    path = clip_dir / f"{make}.mp4"  # every one of them named .mp4
    if not path.exists():
        if make == "not_a_video":
            path.write_bytes(b"<html><script>alert(1)</script></html>\n" * 2000)
        elif make == "two_seconds":
            clips.make_clip(path, seconds=2)
        elif make == "twenty_minutes":
            clips.make_long_clip(path, minutes=20)
        elif make == "eight_k":
            clips.make_8k_frame(path)
        else:
            (clip_dir / "source.mp4").write_bytes(good_clip)
            clips.make_truncated(clip_dir / "source.mp4", path)
    response = tus_upload(creator_client, path.read_bytes(), caption="#test")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == code
    assert words in body["detail"]
    assert not Video.objects.exists()
    assert not VideoUpload.objects.exists()
    assert _spooled_files() == []
    assert _stored_files() == []


def test_an_upload_over_the_size_limit_is_refused_before_any_byte(creator_client, settings):
    settings.VIDEO_UPLOAD_MAX_BYTES = 1_000_000
    response = tus_create(creator_client, 1_000_001)
    assert response.status_code == 413
    assert "limit is 1 MB" in response.json()["detail"]
    assert not VideoUpload.objects.exists()


def test_only_creators_may_upload(shopper):
    client = APIClient()
    client.force_authenticate(shopper)
    response = tus_create(client, 1000)
    assert response.status_code == 403
    assert "Only creators" in response.json()["detail"]
    assert not VideoUpload.objects.exists()


def test_products_of_another_shop_cannot_be_tagged(creator_client, shop, other_shop):
    theirs = ProductFactory(shop=other_shop)
    response = tus_create(creator_client, 1000, products=str(theirs.pk))
    assert response.status_code == 400
    assert response.json()["code"] == "product_not_yours"
    assert not VideoUpload.objects.exists()


def test_at_most_six_products_can_be_tagged(creator_client, shop):
    ids = ",".join(str(ProductFactory(shop=shop).pk) for _ in range(7))
    response = tus_create(creator_client, 1000, products=ids)
    assert response.status_code == 400
    assert response.json()["code"] == "too_many_products"


def test_a_caption_with_a_blocked_word_is_refused(creator_client, settings):
    settings.BLOCKED_WORDS = ["scamcoin"]
    response = tus_create(creator_client, 1000, caption="Buy ScamCoin now #deal")
    assert response.status_code == 400
    assert response.json()["code"] == "blocked_word"
    assert "scamcoin" in response.json()["detail"]


def test_a_caption_with_the_shops_chat_blocked_word_is_refused(creator_client, shop):
    # The shop's chat list, as its owner keeps it in the live app (which feed never imports:
    # live hands the words to shops.moderation at startup).
    apps.get_model("live", "BlockedWord").objects.create(shop=shop, word="knockoff")
    response = tus_create(creator_client, 1000, caption="Not a knockoff, promise")
    assert response.status_code == 400
    assert response.json()["code"] == "blocked_word"


def test_another_user_cannot_write_to_my_upload(creator_client, good_clip):
    created = tus_create(creator_client, len(good_clip))
    from shopfeed.accounts.tests.factories import CreatorFactory

    intruder = APIClient()
    intruder.force_authenticate(CreatorFactory())
    response = tus_patch(intruder, created["Location"], 0, good_clip[:1000])
    assert response.status_code == 404
    assert VideoUpload.objects.get().offset == 0


def test_session_uploads_need_the_csrf_token(creator):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(creator)
    response = tus_create(client, 1000)
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not VideoUpload.objects.exists()


def test_a_chunk_must_be_sent_as_tus_bytes(creator_client):
    created = tus_create(creator_client, 1000)
    response = creator_client.patch(
        created["Location"], {"a": 1}, format="json", HTTP_TUS_RESUMABLE="1.0.0",
        HTTP_UPLOAD_OFFSET="0",
    )  # fmt: skip
    assert response.status_code == 415


def test_the_server_says_it_speaks_tus(creator_client, settings):
    response = creator_client.options(UPLOADS)
    assert response["Tus-Version"] == "1.0.0"
    assert "creation" in response["Tus-Extension"]
    assert response["Tus-Max-Size"] == str(settings.VIDEO_UPLOAD_MAX_BYTES)


def test_cancelling_an_upload_deletes_its_bytes(creator_client, good_clip):
    created = tus_create(creator_client, len(good_clip))
    tus_patch(creator_client, created["Location"], 0, good_clip[:5000])
    response = creator_client.delete(created["Location"], HTTP_TUS_RESUMABLE="1.0.0")
    assert response.status_code == 204
    assert not VideoUpload.objects.exists()
    assert _spooled_files() == []


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        ({"products": "99999999999999999999999"}, "bad_metadata"),
        ({"products": "-3"}, "bad_product"),
        ({"publish_at": "2030-01-01T10:00:00"}, "naive_time"),
        ({"publish_at": "tomorrow"}, "bad_metadata"),
        ({"visibility": "secret"}, "bad_visibility"),
        ({"cover_ms": "9999999"}, "bad_cover_offset"),
    ],
)
def test_bad_details_are_refused_before_any_byte(creator_client, metadata, code):
    response = tus_create(creator_client, 1000, **metadata)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert not VideoUpload.objects.exists()


def test_metadata_that_is_not_base64_is_refused(creator_client):
    response = creator_client.post(
        UPLOADS, HTTP_TUS_RESUMABLE="1.0.0", HTTP_UPLOAD_LENGTH="1000",
        HTTP_UPLOAD_METADATA="caption %%%notbase64",
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["code"] == "bad_metadata"


def test_a_method_tus_does_not_use_is_a_405(creator_client, good_clip):
    created = tus_create(creator_client, len(good_clip))
    assert creator_client.put(created["Location"]).status_code == 405


def test_bytes_that_arrived_before_a_dropped_connection_count(creator, good_clip):
    from shopfeed.feed import uploads

    created = tus_create(_client_for(creator), len(good_clip))
    upload = VideoUpload.objects.get()
    sent = iter([good_clip[:1000], good_clip[1000:3000]])

    def flaky_read(n):
        try:
            return next(sent)
        except StopIteration:
            raise uploads.UploadInterrupted() from None

    with pytest.raises(uploads.UploadInterrupted):
        uploads.write_chunk(upload_id=upload.pk, user=creator, offset=0,
                            content_length=len(good_clip), read=flaky_read)  # fmt: skip
    upload.refresh_from_db()
    assert (upload.offset, upload.writing_until) == (3000, None)
    head = _client_for(creator).head(created["Location"], HTTP_TUS_RESUMABLE="1.0.0")
    assert head["Upload-Offset"] == "3000"


def _client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client
