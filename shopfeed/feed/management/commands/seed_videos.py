"""`manage.py seed_videos`: a few short videos for the demo creators (idempotent).

Each clip is made by ffmpeg (a test pattern and a tone) and posted through the same service an
upload ends in, so it is probed, stored and queued for processing like any other; the Celery
worker that `make run` starts turns it into MP4, HLS and a poster (`--now` processes them in
this process instead).
"""

import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand

from shopfeed.accounts.models import User
from shopfeed.feed import media, processing
from shopfeed.feed.models import Video
from shopfeed.feed.uploads import accept_video_file
from shops.models import Product

# handle -> (caption, hue, tone) per clip
DEMO = {
    "mia": [
        ("Linen season is here ☀️ which colour are you? #linen #summerstyle #ootd", 0, 440),
        ("How I style one shirt three ways #styling #capsulewardrobe", 60, 523),
    ],
    "leo": [
        ("Pour-over in 60 seconds #coffee #morningroutine", 150, 330),
        ("The mug that started it all #ceramics #handmade", 210, 392),
    ],
    "ava": [
        ("Five-minute glow routine #skincare #selfcare", 270, 587),
        ("Unboxing our new bundle #unboxing #skincare", 320, 494),
    ],
}


class Command(BaseCommand):
    help = "Post a few demo videos for the demo creators (skips those who already have videos)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--now", action="store_true", help="process here instead of queueing for a worker"
        )

    def handle(self, *args, now=False, **options):
        posted = []
        with tempfile.TemporaryDirectory(prefix="seed-videos-") as tmp:
            for handle, clips in DEMO.items():
                creator = User.objects.filter(handle=handle, is_creator=True).first()
                if creator is None or Video.objects.filter(creator=creator).exists():
                    continue
                products = list(
                    Product.objects.filter(shop__owner=creator, status=Product.Status.ACTIVE)
                    .order_by("id")
                    .values_list("pk", flat=True)[:2]
                )
                for n, (caption, hue, tone) in enumerate(clips):
                    path = media.make_demo_clip(Path(tmp) / f"{handle}-{n}.mp4", hue=hue,
                                                tone_hz=tone)  # fmt: skip
                    video = accept_video_file(
                        creator=creator,
                        path=path,
                        details={
                            "caption": caption,
                            "product_ids": products[n : n + 1],
                            "cover_offset_ms": 1000,
                            "visibility": Video.Visibility.PUBLIC,
                        },
                        name=f"demo-{handle}-{n}",
                    )
                    posted.append(video)
        if now:
            for video in posted:
                processing.process_video(video_id=video.pk)
        self.stdout.write(
            f"Posted {len(posted)} demo video(s)"
            + ("." if now or not posted else "; the Celery worker processes them.")
        )
