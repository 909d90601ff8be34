"""Letting a socket into a room (run in a thread through database_sync_to_async): the session
exists and the user may watch it, a banned user is refused, and the viewer is counted once
per session (without a query per reconnect)."""

from dataclasses import dataclass

from django.db.models import F
from django.db.utils import IntegrityError

from live import selectors
from live.chat.selectors import active_restriction
from live.models import LiveSession, RoomRestriction, SessionViewer

CLOSE_NOT_FOUND = 4404
CLOSE_BANNED = 4003


@dataclass(frozen=True)
class Admission:
    refusal: tuple[int, str, str] | None = None  # (close code, error code, detail)
    is_host: bool = False
    is_staff: bool = False
    handle: str = ""


def admit(*, session_id: int, user, viewer_key: str) -> Admission:
    try:
        session = selectors.get_watchable_session(session_id=session_id, user=user)
    except LiveSession.DoesNotExist:
        return Admission(refusal=(CLOSE_NOT_FOUND, "not_found", "This live does not exist."))
    authenticated = bool(getattr(user, "is_authenticated", False))
    if authenticated and active_restriction(
        host_id=session.host_id, user_id=user.pk, kind=RoomRestriction.Kind.BAN
    ):
        return Admission(refusal=(CLOSE_BANNED, "banned", "You are banned from this host's lives."))
    _count_viewer(session_id=session_id, viewer_key=viewer_key)
    return Admission(
        is_host=authenticated and user.pk == session.host_id,
        is_staff=authenticated and user.is_staff,
        handle=user.handle if authenticated else "",
    )


# (session id, viewer key) pairs this process has already recorded: a reconnect storm of
# thousands of sockets should not cost a query each. Bounded; forgetting only costs a query.
_seen_viewers: dict[tuple[int, str], None] = {}
SEEN_VIEWERS_MAX = 100_000


def _count_viewer(*, session_id: int, viewer_key: str) -> None:
    seen = (session_id, viewer_key)
    if seen in _seen_viewers:
        return
    if len(_seen_viewers) >= SEEN_VIEWERS_MAX:
        _seen_viewers.clear()
    if not SessionViewer.objects.filter(session_id=session_id, viewer_key=viewer_key).exists():
        try:
            SessionViewer.objects.create(session_id=session_id, viewer_key=viewer_key)
        except IntegrityError:
            pass  # another socket of the same viewer got there first
        else:
            LiveSession.objects.filter(pk=session_id).update(total_viewers=F("total_viewers") + 1)
    _seen_viewers[seen] = None
