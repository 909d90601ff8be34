"""Helpers for the selling tests: a session on air with a lineup, and the room's events."""

import json
from datetime import timedelta

from django.utils import timezone

from live.models import LiveSession
from live.room.bus import MemoryBus
from shops.tests.factories import ProductFactory, VariantFactory

from .factories import LiveSessionFactory


def live_session(shop, *products, status=LiveSession.Status.LIVE, title="Friday drop"):
    return LiveSessionFactory(shop=shop, lineup=products, status=status, title=title)


def lapse(deal) -> None:
    """Put a deal's end one second in the past (as the clock would), nothing else."""
    now = timezone.now()
    type(deal).objects.filter(pk=deal.pk).update(
        starts_at=now - timedelta(minutes=2), ends_at=now - timedelta(seconds=1)
    )


def product_with_variant(shop, *, price_amount=2000, quantity=50, title="Glow serum"):
    product = ProductFactory(shop=shop, title=title)
    variant = VariantFactory(product=product, price_amount=price_amount, quantity=quantity)
    return product, variant


class RoomEvents:
    """Every event published (after commit) to any room, in order."""

    def __init__(self):
        self.frames: list[tuple[int, dict]] = []

    def __call__(self, session_id: int, frame: str) -> None:
        self.frames.append((session_id, json.loads(frame)))

    def of(self, session_id: int, type_: str | None = None) -> list[dict]:
        return [
            e["data"]
            for sid, e in self.frames
            if sid == session_id and (type_ is None or e["type"] == type_)
        ]

    def types(self, session_id: int) -> list[str]:
        return [e["type"] for sid, e in self.frames if sid == session_id]


def capture_room_events(monkeypatch) -> RoomEvents:
    """A private in-memory bus for live.broadcast, so a test sees exactly its own events."""
    bus = MemoryBus(window=1000)
    events = RoomEvents()
    bus.add_listener(events)
    monkeypatch.setattr("live.broadcast.get_bus", lambda: bus)
    return events
