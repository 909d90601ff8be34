"""Demo live sessions for `make run` (after seed_demo): mia is live now, leo goes live later.

Without a media server the live page plays the local sample video (LIVE_DEMO_VIDEO), and the
room (chat, pins, deals, buying) works the same. Safe to run again.
"""

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from live.models import LiveSession
from live.selling import services as selling
from live.stream import services as sessions
from shopfeed.accounts.models import User
from shops.models import Product

DEMOS = [
    # handle, title, starts in (None: live now), products in the lineup
    ("mia", "Summer try-on haul: linen & totes", None, 4),
    ("leo", "Wok night: 3 dinners in 30 minutes", timedelta(days=1), 3),
]


class Command(BaseCommand):
    help = "Create demo live sessions (mia live now, leo tomorrow)."

    def handle(self, *args, **options):
        for handle, title, starts_in, size in DEMOS:
            host = User.objects.filter(handle=handle, is_creator=True).first()
            if host is None or not hasattr(host, "shop"):
                self.stdout.write(f"  {handle}: no demo creator with a shop; run seed_demo first")
                continue
            open_ = LiveSession.objects.filter(host=host, title=title).exclude(
                status=LiveSession.Status.ENDED
            )
            session = open_.first()
            if session is None:
                products = Product.objects.filter(
                    shop=host.shop, status=Product.Status.ACTIVE
                ).order_by("tab_position", "id")[:size]
                session = sessions.schedule_session(
                    host=host,
                    title=title,
                    scheduled_at=timezone.now() + (starts_in or timedelta()),
                    product_ids=[p.pk for p in products],
                )
            elif starts_in and session.scheduled_at < timezone.now():
                # A demo "tomorrow" from a seed run days ago: move it forward again.
                session = sessions.update_session(
                    session=session, by=host, scheduled_at=timezone.now() + starts_in
                )
            if starts_in is None:
                session = sessions.go_live(session=session, by=host)
                self._pin_first(session, host)
            self.stdout.write(f"  /live/{session.pk}/  {handle}: {title} ({session.status})")

    def _pin_first(self, session, host):
        if session.pinned_product_id:
            return
        first = session.lineup.select_related("product").order_by("position", "id").first()
        if first is not None:
            selling.pin_product(session=session, product=first.product, by=host)
