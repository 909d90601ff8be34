import io

import factory
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image

from shopfeed.accounts.tests.factories import CreatorFactory
from shopfeed.feed.models import Hashtag, Video, VideoProduct, VideoReport


def make_poster(color=(20, 120, 200)) -> ContentFile:
    """A tiny real JPEG (9:16) standing in for a poster frame."""
    buf = io.BytesIO()
    Image.new("RGB", (18, 32), color).save(buf, format="JPEG")
    return ContentFile(buf.getvalue(), name="poster.jpg")


class HashtagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Hashtag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tag{n}")


class VideoFactory(factory.django.DjangoModelFactory):
    """A READY public video, published a minute ago, made without transcoding: it has a real
    poster image, and names for an MP4 and an HLS master that were never written."""

    class Meta:
        model = Video
        skip_postgeneration_save = True

    creator = factory.SubFactory(CreatorFactory)
    caption = factory.Sequence(lambda n: f"Clip number {n}")
    status = Video.Status.READY
    visibility = Video.Visibility.PUBLIC
    moderation = Video.Moderation.VISIBLE
    publish_at = factory.LazyFunction(lambda: timezone.now() - timezone.timedelta(minutes=1))
    poster = factory.LazyFunction(make_poster)
    mp4_file = factory.Sequence(lambda n: f"videos/factory/{n}/video.mp4")
    hls_master = factory.Sequence(lambda n: f"videos/factory/{n}/hls/master.m3u8")
    duration_ms = 15_000
    width = 720
    height = 1280
    size_bytes = 1_000_000

    @factory.post_generation
    def hashtags(self, create, extracted, **kwargs):
        if create and extracted:
            self.hashtags.set(
                [h if isinstance(h, Hashtag) else HashtagFactory(name=h) for h in extracted]
            )


def _product_of(creator):
    """A new active product in the creator's shop (opened if they have none)."""
    from shops.models import Shop
    from shops.tests.factories import ProductFactory, ShopFactory

    shop = Shop.objects.filter(owner=creator).first() or ShopFactory(owner=creator)
    return ProductFactory(shop=shop)


class VideoProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VideoProduct

    video = factory.SubFactory(VideoFactory)
    product = factory.LazyAttribute(lambda o: _product_of(o.video.creator))
    position = factory.Sequence(lambda n: n % 6)


class VideoReportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VideoReport

    video = factory.SubFactory(VideoFactory)
    reporter = factory.SubFactory("shopfeed.accounts.tests.factories.UserFactory")
    reason = VideoReport.Reason.SPAM
