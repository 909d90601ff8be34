"""Live tasks: thin wrappers over live services (each is safe to run twice)."""

from celery import shared_task

from .chat import log as chat_log
from .selling import purchases
from .selling import services as selling


# Beat runs this every few seconds: claims already stop at `ends_at`; this tells the rooms.
@shared_task(acks_late=True)
def end_expired_deals_task() -> int:
    ended = selling.end_expired_deals()
    selling.release_stale_deal_claims()
    return ended


@shared_task(acks_late=True)
def flush_purchases_task(session_id: int, bucket: int) -> int:
    data = purchases.flush_purchases(session_id=session_id, bucket=bucket)
    return data["count"] if data else 0


@shared_task(acks_late=True)
def flush_chat_logs_task() -> int:
    """Store chat messages still waiting in Redis (idempotent: see live.chat.log)."""
    from django.conf import settings

    if not settings.REDIS_URL:
        return 0
    return sum(chat_log.flush_chat_log(sid) for sid in chat_log.pending_sessions())
