"""The creator's video pages, the report page and API, and the admin review queue."""

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from rest_framework.test import APIClient

from shopfeed.accounts.tests.factories import CreatorFactory, UserFactory
from shopfeed.feed.models import ModerationAction, Video, VideoReport
from shopfeed.feed.selectors import published_videos
from shopfeed.feed.tests.factories import VideoFactory, VideoProductFactory, VideoReportFactory
from shops.tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

VIDEOS = "/dashboard/videos/"


@pytest.fixture
def creator_page(client, creator):
    client.force_login(creator)
    return client


def _videos_for(creator, n):
    for i in range(n):
        VideoProductFactory(video=VideoFactory(creator=creator, hashtags=[f"tag{i}"]))


def test_my_videos_show_what_state_each_is_in_and_why(creator_page, creator):
    VideoFactory(creator=creator, caption="Still cooking", status=Video.Status.PROCESSING,
                 poster="", mp4_file="")  # fmt: skip
    VideoFactory(
        creator=creator,
        caption="Broken",
        status=Video.Status.FAILED,
        poster="",
        mp4_file="",
        failure_reason="The video is 2.0 s long; it must be at least 3 s.",
    )
    VideoFactory(creator=creator, caption="Too much", moderation=Video.Moderation.HIDDEN,
                 hidden_reason="Misleading claims about the product.")  # fmt: skip
    VideoFactory(caption="Someone else's")
    body = creator_page.get(VIDEOS).content.decode()
    assert "Processing…" in body
    assert "it must be at least 3 s." in body
    assert "Hidden by our team" in body
    assert "Misleading claims about the product." in body
    assert "Someone else" not in body
    # Still processing: the list refreshes itself.
    assert 'hx-trigger="every 5s"' in body


def test_my_video_list_costs_the_same_queries_for_2_or_12_videos(
    creator_page, creator, django_assert_max_num_queries
):
    _videos_for(creator, 2)
    with django_assert_max_num_queries(12) as few:
        assert creator_page.get(VIDEOS).status_code == 200
    _videos_for(creator, 10)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert creator_page.get(VIDEOS).content.decode().count("data-video=") == 12


def test_the_upload_page_offers_only_my_active_products(creator_page, shop, other_shop):
    mine = ProductFactory(shop=shop, title="My mug")
    ProductFactory(shop=shop, title="Old draft", status="draft")
    ProductFactory(shop=other_shop, title="Their hat")
    body = creator_page.get(f"{VIDEOS}new/").content.decode()
    assert f'value="{mine.pk}"' in body
    assert "My mug" in body
    assert "Old draft" not in body
    assert "Their hat" not in body
    assert 'data-endpoint="/api/v1/feed/uploads/"' in body
    assert "csrfmiddlewaretoken" in body
    assert "js/vendor/tus.min.js" in body


def test_shoppers_are_sent_to_become_a_creator(client, shopper):
    client.force_login(shopper)
    response = client.get(f"{VIDEOS}new/")
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"


def test_a_creator_deletes_their_video_and_its_files(
    creator_page, creator, django_capture_on_commit_callbacks
):
    video = VideoFactory(creator=creator)
    poster = video.poster.name
    assert default_storage.exists(poster)
    with django_capture_on_commit_callbacks(execute=True):
        response = creator_page.post(f"{VIDEOS}{video.pk}/delete/")
    assert response.status_code == 302
    assert not Video.objects.filter(pk=video.pk).exists()
    assert not default_storage.exists(poster)


def test_nobody_deletes_another_creators_video(creator_page):
    theirs = VideoFactory()
    assert creator_page.post(f"{VIDEOS}{theirs.pk}/delete/").status_code == 404
    api = APIClient()
    api.force_authenticate(CreatorFactory())
    assert api.delete(f"/api/v1/feed/videos/mine/{theirs.pk}/").status_code == 403
    assert Video.objects.filter(pk=theirs.pk).exists()


def test_deleting_needs_the_csrf_token(creator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(creator)
    video = VideoFactory(creator=creator)
    assert client.post(f"{VIDEOS}{video.pk}/delete/").status_code == 403
    assert Video.objects.filter(pk=video.pk).exists()


# --- reports --------------------------------------------------------------------------------


def test_a_viewer_reports_a_video_once(client, shopper):
    video = VideoFactory()
    client.force_login(shopper)
    page = client.get(f"/videos/{video.pk}/report/")
    assert "Report this video" in page.content.decode()
    done = client.post(f"/videos/{video.pk}/report/", {"reason": "spam", "note": "Fake giveaway"})
    assert "Thanks for telling us" in done.content.decode()
    again = client.post(f"/videos/{video.pk}/report/", {"reason": "hate"})
    assert again.status_code == 409
    assert "already reported" in again.content.decode()
    report = VideoReport.objects.get()
    assert (report.reporter, report.reason, report.note) == (shopper, "spam", "Fake giveaway")


def test_a_report_without_a_reason_is_refused(client, shopper):
    video = VideoFactory()
    client.force_login(shopper)
    response = client.post(f"/videos/{video.pk}/report/", {"reason": "", "note": "x"})
    assert response.status_code == 400
    assert not VideoReport.objects.exists()


def test_reporting_needs_a_signed_in_viewer(client):
    video = VideoFactory()
    response = client.post(f"/videos/{video.pk}/report/", {"reason": "spam"})
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    api = APIClient()
    assert api.post(f"/api/v1/feed/videos/{video.pk}/reports/", {"reason": "spam"},
                    format="json").status_code == 403  # fmt: skip
    assert not VideoReport.objects.exists()


def test_the_report_api_answers_once_per_viewer(shopper):
    video = VideoFactory()
    api = APIClient()
    api.force_authenticate(shopper)
    url = f"/api/v1/feed/videos/{video.pk}/reports/"
    first = api.post(url, {"reason": "misleading", "note": "Not the product shown"}, format="json")
    assert first.status_code == 201
    assert first.json()["status"] == "open"
    second = api.post(url, {"reason": "spam"}, format="json")
    assert second.status_code == 409
    assert second.json()["code"] == "already_reported"
    bad = api.post(url, {"reason": "boring"}, format="json")
    assert bad.status_code == 400
    assert VideoReport.objects.count() == 1


def test_a_creator_cannot_report_their_own_video(creator):
    video = VideoFactory(creator=creator)
    api = APIClient()
    api.force_authenticate(creator)
    response = api.post(f"/api/v1/feed/videos/{video.pk}/reports/", {"reason": "spam"},
                        format="json")  # fmt: skip
    assert response.status_code == 400
    assert not VideoReport.objects.exists()


# --- API reads --------------------------------------------------------------------------------


def test_my_videos_api_lists_every_state_with_reasons_for_me_only(creator):
    VideoFactory(creator=creator, status=Video.Status.FAILED, poster="", mp4_file="",
                 failure_reason="Damaged file.")  # fmt: skip
    VideoFactory()
    api = APIClient()
    api.force_authenticate(creator)
    body = api.get("/api/v1/feed/videos/mine/").json()
    assert body["count"] == 1
    assert body["results"][0]["failure_reason"] == "Damaged file."
    assert body["results"][0]["hls_url"] is None


def test_my_videos_api_costs_the_same_queries_for_any_number(
    creator, django_assert_max_num_queries
):
    api = APIClient()
    api.force_authenticate(creator)
    _videos_for(creator, 2)
    with django_assert_max_num_queries(10) as few:
        api.get("/api/v1/feed/videos/mine/")
    _videos_for(creator, 10)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert api.get("/api/v1/feed/videos/mine/").json()["count"] == 12


def test_an_unpublished_video_is_not_found_by_others_but_seen_by_its_creator(creator):
    draft = VideoFactory(creator=creator, visibility=Video.Visibility.DRAFT)
    api = APIClient()
    assert api.get(f"/api/v1/feed/videos/{draft.pk}/").status_code == 404
    api.force_authenticate(creator)
    assert api.get(f"/api/v1/feed/videos/mine/{draft.pk}/").json()["visibility"] == "draft"


def test_the_hidden_reason_is_for_the_creator_only(creator):
    video = VideoFactory(creator=creator, moderation=Video.Moderation.HIDDEN,
                         hidden_reason="Nudity")  # fmt: skip
    api = APIClient()
    api.force_authenticate(creator)
    assert api.get(f"/api/v1/feed/videos/mine/{video.pk}/").json()["hidden_reason"] == "Nudity"
    api.force_authenticate(UserFactory())
    assert api.get(f"/api/v1/feed/videos/{video.pk}/").status_code == 404


# --- admin review queue -------------------------------------------------------------------------


def test_the_review_queue_lists_reported_videos_first(admin_client):
    quiet = VideoFactory(caption="Quiet one")
    loud = VideoFactory(caption="Loud one")
    for _ in range(3):
        VideoReportFactory(video=loud)
    VideoReportFactory(video=quiet, status=VideoReport.Status.DISMISSED)
    body = admin_client.get("/admin/feed/video/").content.decode()
    assert body.index("Loud one") < body.index("Quiet one")


def test_staff_hide_a_reported_video_with_a_reason_the_creator_sees(
    admin_client, admin_user, creator, client
):
    video = VideoFactory(creator=creator, caption="Miracle cream")
    report = VideoReportFactory(video=video)
    url = "/admin/feed/video/"
    confirm = admin_client.post(url, {"action": "hide", "_selected_action": [video.pk]})
    assert "Reason (shown to the creator)" in confirm.content.decode()
    admin_client.post(url, {"action": "hide", "_selected_action": [video.pk], "apply": "1",
                            "reason": "Health claims are not allowed."})  # fmt: skip
    video.refresh_from_db()
    assert video.moderation == Video.Moderation.HIDDEN
    assert video not in published_videos()
    report.refresh_from_db()
    assert (report.status, report.resolved_by) == (VideoReport.Status.ACTIONED, admin_user)
    assert ModerationAction.objects.get().reason == "Health claims are not allowed."
    client.force_login(creator)
    assert "Health claims are not allowed." in client.get(VIDEOS).content.decode()


def test_hiding_without_a_reason_changes_nothing(admin_client):
    video = VideoFactory()
    admin_client.post("/admin/feed/video/", {"action": "hide", "_selected_action": [video.pk],
                                             "apply": "1", "reason": " "})  # fmt: skip
    video.refresh_from_db()
    assert video.moderation == Video.Moderation.VISIBLE
    assert not ModerationAction.objects.exists()


def test_staff_restore_a_hidden_video(admin_client):
    video = VideoFactory(moderation=Video.Moderation.HIDDEN, hidden_reason="Mistake")
    admin_client.post("/admin/feed/video/", {"action": "restore",
                                             "_selected_action": [video.pk]})  # fmt: skip
    video.refresh_from_db()
    assert (video.moderation, video.hidden_reason) == (Video.Moderation.VISIBLE, "")
    assert video in published_videos()


# --- serving what processing wrote (development media server) ---------------------------------


def test_renditions_are_served_as_video_and_originals_not_at_all(client, settings):
    from django.core.files.base import ContentFile

    settings.MEDIA_URL = "/media/"
    master = default_storage.save("videos/7/a1-abc/hls/master.m3u8", ContentFile(b"#EXTM3U\n"))
    segment = default_storage.save("videos/7/a1-abc/hls/360p/seg_000.ts", ContentFile(b"G" * 188))
    source = default_storage.save("videos/sources/0a1b.mp4", ContentFile(b"original"))
    response = client.get(f"/media/{master}")
    assert response["Content-Type"] == "application/vnd.apple.mpegurl"
    assert "attachment" not in response.get("Content-Disposition", "")
    assert client.get(f"/media/{segment}")["Content-Type"] == "video/mp2t"
    assert client.get(f"/media/{source}").status_code == 404
    assert client.get("/media/videos/7/../sources/0a1b.mp4").status_code == 404


def test_admin_video_and_upload_pages_open(admin_client, creator):
    video = VideoFactory(creator=creator)
    VideoReportFactory(video=video)
    assert admin_client.get(f"/admin/feed/video/{video.pk}/change/").status_code == 200
    assert admin_client.get("/admin/feed/video/?reported=open").status_code == 200
    assert admin_client.get("/admin/feed/videoupload/").status_code == 200
    assert admin_client.get("/admin/feed/videoreport/").status_code == 200
