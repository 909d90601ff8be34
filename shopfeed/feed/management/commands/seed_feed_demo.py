"""`manage.py seed_feed_demo`: a few short videos by the demo creators (after `seed_demo`), so
`make run` opens on a feed. Idempotent. The clip is the live page's demo file
(static/video/demo-live.mp4) stored once in the storage backend, each video with a poster of
its own; real uploads go through the upload and transcoding pipeline instead."""

import io

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageDraw

from shopfeed.accounts.models import User
from shops.models import Product

from ...models import Hashtag, Video, VideoProduct

DEMO_CLIP = "videos/demo/demo-live.mp4"
VIDEOS = {
    "mia": [("Three ways to wear the linen shirt #fashion #summer", (214, 120, 90)),
            ("Packing for a weekend away #fashion #travel", (120, 160, 200))],
    "leo": [("Glazing a mug from start to finish #ceramics #handmade", (150, 110, 80)),
            ("Studio tour #ceramics", (90, 120, 110))],
    "ava": [("Five-minute morning skincare #beauty", (230, 170, 190)),
            ("What is in my bag #beauty #travel", (170, 150, 220))],
}  # fmt: skip


def poster(text: str, color) -> ContentFile:
    image = Image.new("RGB", (360, 640), color)
    ImageDraw.Draw(image).text((20, 300), text[:30], fill=(255, 255, 255))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=80)
    return ContentFile(buf.getvalue(), name="poster.jpg")


class Command(BaseCommand):
    help = "Load demo videos of the demo creators (idempotent; run after seed_demo)."

    @transaction.atomic
    def handle(self, *args, **options):
        if not default_storage.exists(DEMO_CLIP):
            source = settings.BASE_DIR / "static" / "video" / "demo-live.mp4"
            default_storage.save(DEMO_CLIP, ContentFile(source.read_bytes()))
        made = 0
        for handle, videos in VIDEOS.items():
            creator = User.objects.filter(handle=handle).first()
            if creator is None or Video.objects.filter(creator=creator).exists():
                continue
            products = list(
                Product.objects.filter(shop__owner=creator, status=Product.Status.ACTIVE)
                .order_by("id")
                .values_list("pk", flat=True)[:2]
            )
            for i, (caption, color) in enumerate(videos):
                video = Video(
                    creator=creator,
                    caption=caption,
                    status=Video.Status.READY,
                    publish_at=timezone.now() - timezone.timedelta(hours=i + 1),
                    mp4_file=DEMO_CLIP,
                    duration_ms=10_000,
                    width=720,
                    height=1280,
                )
                video.poster.save(f"demo-{handle}-{i}.jpg", poster(caption, color), save=False)
                video.save()
                tags = [w.lstrip("#").lower() for w in caption.split() if w.startswith("#")]
                video.hashtags.set([Hashtag.objects.get_or_create(name=t)[0] for t in tags])
                for position, product_id in enumerate(products[i : i + 1]):
                    VideoProduct.objects.create(
                        video=video, product_id=product_id, position=position
                    )
                made += 1
        self.stdout.write(f"Demo videos: {made} created.")
