"""Print an nginx.conf (with libnginx-mod-rtmp) to put in front of ShopFeed's live sessions."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand

from live.stream.media import NginxPlan, nginx_rtmp_config


class Command(BaseCommand):
    help = "Print an nginx-rtmp configuration: RTMP ingest checked by our hooks, HLS by session."

    def add_arguments(self, parser):
        parser.add_argument(
            "--hooks-url",
            default="http://127.0.0.1:8000",
            help="Where nginx reaches ShopFeed (default %(default)s).",
        )
        parser.add_argument("--hls-path", default="/var/lib/shopfeed/hls")
        parser.add_argument(
            "--bind",
            default="0.0.0.0",  # noqa: S104 - encoders connect from anywhere
            help="Address nginx listens on.",
        )
        parser.add_argument("--module", default=NginxPlan.module_path)

    def handle(self, *args, **options):
        rtmp = urlsplit(settings.LIVE_RTMP_URL)
        hls = urlsplit(settings.LIVE_HLS_URL)
        plan = NginxPlan(
            rtmp_port=rtmp.port or 1935,
            http_port=hls.port or 80,
            hls_path=options["hls_path"],
            hooks_base_url=options["hooks_url"],
            bind=options["bind"],
            module_path=options["module"],
            hook_secret=settings.LIVE_HOOK_SECRET,
        )
        self.stdout.write(nginx_rtmp_config(plan))
