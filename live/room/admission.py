"""Letting a socket into a room: the session exists and the user may watch it, and a banned
user is refused. Decided from the room state this process keeps (live.room.state), with no
database work per viewer; the viewer is counted by the hub (live.room.presence)."""

from dataclasses import dataclass

from live.models import RoomRestriction

from .state import RoomState

CLOSE_NOT_FOUND = 4404
CLOSE_BANNED = 4003


@dataclass(frozen=True)
class Admission:
    refusal: tuple[int, str, str] | None = None  # (close code, error code, detail)
    is_host: bool = False
    is_staff: bool = False
    handle: str = ""


def admit(*, state: RoomState | None, user) -> Admission:
    if state is None or not state.watchable_by(user):
        return Admission(refusal=(CLOSE_NOT_FOUND, "not_found", "This live does not exist."))
    authenticated = bool(getattr(user, "is_authenticated", False))
    if authenticated and state.restriction(user.handle, RoomRestriction.Kind.BAN)[0]:
        return Admission(refusal=(CLOSE_BANNED, "banned", "You are banned from this host's lives."))
    return Admission(
        is_host=authenticated and user.pk == state.host_id,
        is_staff=authenticated and user.is_staff,
        handle=user.handle if authenticated else "",
    )
