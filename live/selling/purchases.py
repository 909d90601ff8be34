"""The batched "just bought" notices: a paid live order is queued for its room, and one
"purchase" event a second tells the room who bought what (DESIGN.md section 5: coalesced)."""

import logging
import time

from django.core.cache import cache

from live import broadcast
from orders.models import Order, SaleSource

logger = logging.getLogger(__name__)

# How long a second's batch waits in the cache, names per event.
PURCHASE_TTL = 120
PURCHASE_MAX_NAMES = 10


def _masked(handle: str) -> str:
    # Broadcast to a whole room: show enough to feel real, not enough to identify a buyer.
    return f"{handle[:2]}***" if handle else "someone"


def _clock() -> float:
    return time.time()


def _purchase_key(session_id: int, bucket: int) -> str:
    return f"live:bought:{session_id}:{bucket}"


def record_purchases(*, checkout_id: int, now: float | None = None) -> int:
    """Queue the live orders of a paid checkout for their rooms' next "purchase" event.

    Batched per session per second: the second's first purchase schedules one flush.
    """
    orders = Order.objects.filter(checkout_id=checkout_id, source=SaleSource.LIVE).select_related(
        "buyer"
    )
    queued = 0
    for order in orders.prefetch_related("items"):
        if not order.source_ref.isdigit():
            continue
        session_id = int(order.source_ref)
        entry = {
            "buyer": _masked(order.buyer.handle),
            "titles": [item.product_title for item in order.items.all()],
        }
        bucket = int(now if now is not None else _clock())
        key = _purchase_key(session_id, bucket)
        cache.add(f"{key}:n", 0, timeout=PURCHASE_TTL)
        n = cache.incr(f"{key}:n")
        cache.set(f"{key}:{n}", entry, timeout=PURCHASE_TTL)
        if cache.add(f"{key}:queued", 1, timeout=PURCHASE_TTL):
            from live.tasks import flush_purchases_task

            delay = max(0.0, bucket + 1 - _clock())
            try:
                flush_purchases_task.apply_async((session_id, bucket), countdown=delay)
            except Exception:
                # Notices are best effort; the next purchase this second schedules again.
                cache.delete(f"{key}:queued")
                logger.exception("could not schedule the purchase notices of %s", session_id)
        queued += 1
    return queued


def flush_purchases(*, session_id: int, bucket: int) -> dict | None:
    """Publish one "purchase" event for what that second queued; None if nothing is new."""
    key = _purchase_key(session_id, bucket)
    if not cache.add(f"{key}:lock", 1, timeout=30):
        return None  # another flush of this batch is running
    try:
        # Cleared before reading, so a purchase landing now schedules a flush of its own.
        cache.delete(f"{key}:queued")
        n = cache.get(f"{key}:n") or 0
        done = cache.get(f"{key}:done") or 0
        if n <= done:
            return None
        found = cache.get_many([f"{key}:{i}" for i in range(done + 1, n + 1)])
        cache.set(f"{key}:done", n, timeout=PURCHASE_TTL)
    finally:
        cache.delete(f"{key}:lock")
    entries = [found[k] for k in sorted(found, key=lambda k: int(k.rsplit(":", 1)[1]))]
    if not entries:
        return None
    buyers = list(dict.fromkeys(e["buyer"] for e in entries))[:PURCHASE_MAX_NAMES]
    titles = list(dict.fromkeys(t for e in entries for t in e["titles"]))[:PURCHASE_MAX_NAMES]
    data = {"buyers": buyers, "product_titles": titles, "count": len(entries)}
    broadcast.publish(session_id, "purchase", data)
    return data
