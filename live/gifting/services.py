"""The host's LIVE goal: a coins target the room's gifts fill, with a progress bar.

The session row records the goal (target, title, when it was set); the running progress lives
in Redis beside the room's ranking (live/gifting/scripts.py) and GiftSend rows are the record
it can be recounted from (`goal_progress`)."""

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from live.models import LiveSession
from shopfeed.errors import NotAllowed, NotFound, ShopFeedError

GOAL_MAX_COINS = 10_000_000
GOAL_TITLE_MAX = 60  # LiveSession.gift_goal_title


def _check_host(session: LiveSession, by) -> None:
    if not getattr(by, "is_authenticated", False) or not (by.pk == session.host_id or by.is_staff):
        raise NotAllowed("Only the host can set the goal.", code="host_only")


def _clean_goal(coins, title) -> tuple[int, str]:
    if isinstance(coins, bool) or not isinstance(coins, int) or not 1 <= coins <= GOAL_MAX_COINS:
        raise ShopFeedError(
            f"The goal is a whole number of coins from 1 to {GOAL_MAX_COINS:,}.",
            code="invalid_goal",
            field="coins",
        )
    if title is None:
        title = ""
    if not isinstance(title, str) or len(title.strip()) > GOAL_TITLE_MAX:
        raise ShopFeedError(
            f"The goal's title is at most {GOAL_TITLE_MAX} characters.",
            code="invalid_goal",
            field="title",
        )
    return coins, title.strip()


@transaction.atomic
def set_gift_goal(*, session: LiveSession, by, coins, title="") -> LiveSession:
    """Set the session's goal; its progress starts from 0 and counts the gifts sent from now."""
    from .room import publish_goal

    _check_host(session, by)
    coins, title = _clean_goal(coins, title)
    if session.status == LiveSession.Status.ENDED:
        raise ShopFeedError("This live has ended.", code="ended")
    session = LiveSession.objects.select_for_update().get(pk=session.pk)
    session.gift_goal_coins, session.gift_goal_title = coins, title
    session.gift_goal_set_at = timezone.now()
    session.save(update_fields=["gift_goal_coins", "gift_goal_title", "gift_goal_set_at"])
    transaction.on_commit(lambda: publish_goal(session.pk, coins, title))
    return session


@transaction.atomic
def clear_gift_goal(*, session: LiveSession, by) -> LiveSession:
    from .room import publish_goal

    _check_host(session, by)
    session = LiveSession.objects.select_for_update().get(pk=session.pk)
    session.gift_goal_coins, session.gift_goal_title, session.gift_goal_set_at = None, "", None
    session.save(update_fields=["gift_goal_coins", "gift_goal_title", "gift_goal_set_at"])
    transaction.on_commit(lambda: publish_goal(session.pk, None, ""))
    return session


def goal_progress(session: LiveSession) -> int:
    """The goal's progress recounted from the record (GiftSend rows since it was set)."""
    from gifts.models import GiftSend

    if session.gift_goal_set_at is None:
        return 0
    return (
        GiftSend.objects.filter(
            session_id=session.pk, host_id=session.host_id, created_at__gte=session.gift_goal_set_at
        ).aggregate(total=Sum("coins_total"))["total"]
        or 0
    )


def session_host_for_gifts(session_id: int) -> int:
    """gifts' session resolver (registered at startup): who hosts a session a send names from
    outside the room (the HTTP API), if it takes gifts now."""
    session = LiveSession.objects.filter(pk=session_id).values("host_id", "status").first()
    if session is None:
        raise NotFound("No such live session.", code="session_not_found")
    if session["status"] != LiveSession.Status.LIVE:
        raise ShopFeedError("Gifts can be sent while the host is live.", code="not_live")
    return session["host_id"]
