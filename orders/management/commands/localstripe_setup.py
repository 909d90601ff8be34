"""`manage.py localstripe_setup [--wait 30]`: point localstripe's webhooks at this app.

Development only: localstripe (DESIGN.md section 6) posts events to the URLs registered with
POST /_config/webhooks/<name>, signed with our STRIPE_WEBHOOK_SECRET.
"""

import os
import time
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Register this app's /stripe/webhook/ with the localstripe at STRIPE_API_BASE."

    def add_arguments(self, parser):
        parser.add_argument(
            "--wait", type=float, default=0, help="Seconds to wait for localstripe to come up."
        )
        parser.add_argument(
            "--port",
            type=int,
            default=0,
            help="The web server's port (default: $PORT, else 8000). Under honcho each process "
            "gets its own PORT, 100 apart in Procfile order.",
        )
        parser.add_argument(
            "--url",
            default="",
            help="Webhook URL (default: http://127.0.0.1:<port>/stripe/webhook/).",
        )
        parser.add_argument("--name", default="shopfeed", help="The registration's name.")

    def handle(self, *args, wait: float, port: int, url: str, name: str, **options):
        base = (settings.STRIPE_API_BASE or "").rstrip("/")
        if not base.startswith(("http://127.0.0.1", "http://localhost")):
            raise CommandError(f"STRIPE_API_BASE={base!r} is not a local localstripe.")
        if not settings.STRIPE_WEBHOOK_SECRET:
            raise CommandError("STRIPE_WEBHOOK_SECRET is empty.")
        port = port or int(os.environ.get("PORT") or 8000)
        url = url or f"http://127.0.0.1:{port}/stripe/webhook/"
        data = urllib.parse.urlencode({"url": url, "secret": settings.STRIPE_WEBHOOK_SECRET})
        request = urllib.request.Request(  # noqa: S310 - a loopback URL checked above
            f"{base}/_config/webhooks/{urllib.parse.quote(name)}",
            data=data.encode(),
            method="POST",
        )
        deadline = time.monotonic() + wait
        while True:
            try:
                with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                    response.read()
                break
            except urllib.error.HTTPError as exc:
                raise CommandError(f"localstripe refused the webhook: {exc}") from exc
            except OSError as exc:
                if time.monotonic() >= deadline:
                    raise CommandError(f"localstripe at {base} is not answering: {exc}") from exc
                time.sleep(0.5)
        self.stdout.write(f"localstripe at {base} will post events to {url}")
