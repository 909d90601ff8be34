from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from shopfeed.feed.models import Video, VideoProduct
from shopfeed.feed.selectors import published_videos
from shopfeed.feed.tests.factories import VideoFactory, VideoProductFactory, VideoReportFactory

pytestmark = pytest.mark.django_db


def test_factory_video_is_published_with_a_real_poster():
    video = VideoFactory(hashtags=["cooking", "pasta"])
    assert list(published_videos()) == [video]
    assert video.poster.read(3) == b"\xff\xd8\xff"  # a JPEG
    assert sorted(video.hashtags.values_list("name", flat=True)) == ["cooking", "pasta"]


@pytest.mark.parametrize(
    "change",
    [
        {"status": Video.Status.PROCESSING},
        {"visibility": Video.Visibility.DRAFT},
        {"visibility": Video.Visibility.FOLLOWERS},
        {"moderation": Video.Moderation.HIDDEN, "hidden_reason": "Spam"},
        {"publish_at": timezone.now() + timedelta(hours=1)},
    ],
)
def test_unpublished_videos_are_not_in_published_videos(change):
    VideoFactory(**change)
    assert list(published_videos()) == []


def test_a_video_holds_at_most_six_products():
    video = VideoFactory()
    for position in range(6):
        VideoProductFactory(video=video, position=position)
    with pytest.raises(IntegrityError), transaction.atomic():
        VideoProductFactory(video=video, position=6)
    assert VideoProduct.objects.filter(video=video).count() == 6


def test_one_report_per_viewer_per_video():
    report = VideoReportFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        VideoReportFactory(video=report.video, reporter=report.reporter)
