"""What the room decides admissions and chat from, cached per process (DESIGN.md section 5:
"room state cached per process and refreshed by the room's own events").

Measured before: every join ran 4-5 SQL statements (the session, a ban lookup, the viewer row)
and every chat message 6, all on the consumer's one database thread, so 3,000 joins took 37 s
and 50 messages/s gave a 40 s chat p99. Now a process loads a session's state once (three
queries, in the hub's own thread) when its first socket arrives, keeps it while it serves the
room, applies the room's events to it as they go by (`session.started`/`session.ended`,
`moderation`), and reloads it in the background every LIVE_ROOM_STATE_SECONDS for what no event
announces (a shop suspended, blocked words edited in the admin, a restriction made in another
of the host's lives).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from live.models import BlockedWord, LiveSession, RoomRestriction
from shops.moderation import (
    CompiledWords,
    compile_blocked_words,
    first_blocked_word,
    platform_blocked_words,
)


@dataclass
class RoomState:
    session_id: int
    status: str
    title: str
    host_id: int
    host_handle: str
    shop_id: int | None
    shop_suspended: bool
    # handle (lower case) -> kind ("mute" / "ban") -> end (epoch seconds) or None (until lifted)
    restrictions: dict[str, dict[str, float | None]] = field(default_factory=dict)
    blocked_words: tuple[str, ...] = ()
    loaded_at: float = field(default_factory=time.monotonic)
    _patterns: CompiledWords | None = field(default=None, repr=False)

    # -- questions the room asks -----------------------------------------------------------------

    def watchable_by(self, user) -> bool:
        """A suspended shop's lives are for its host and staff only."""
        if not self.shop_suspended:
            return True
        return getattr(user, "pk", None) == self.host_id or bool(getattr(user, "is_staff", False))

    def restriction(self, handle: str, kind: str) -> tuple[bool, datetime | None]:
        """(in force, its end) for a viewer's mute or ban; an ended one is not in force."""
        kinds = self.restrictions.get((handle or "").lower())
        if not kinds or kind not in kinds:
            return False, None
        until = kinds[kind]
        if until is not None and until <= time.time():
            return False, None
        return True, None if until is None else datetime.fromtimestamp(until, UTC)

    def blocked_word_in(self, text: str) -> str | None:
        """The first blocked word (or phrase) of the shop that `text` contains as a word."""
        if self._patterns is None:
            # The rule every app shares (shops.moderation), with the platform's own words too.
            self._patterns = compile_blocked_words((*platform_blocked_words(), *self.blocked_words))
        return first_blocked_word(text, self._patterns)

    # -- what the room's events change -----------------------------------------------------------

    def apply(self, type_: str, data: dict) -> None:
        if type_ == "session.started":
            self.status = LiveSession.Status.LIVE
        elif type_ == "session.ended":
            self.status = LiveSession.Status.ENDED
        elif type_ == "moderation":
            handle = str(data.get("user", "")).lower()
            kind = data.get("kind")
            if kind in ("mute", "ban"):
                self.restrictions.setdefault(handle, {})[kind] = _epoch(data.get("until"))
            elif kind in ("unmute", "unban"):
                self.restrictions.get(handle, {}).pop(kind[2:], None)


# Event types that change the state above.
STATE_EVENTS = frozenset({"session.started", "session.ended", "moderation"})


def _epoch(value) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value).timestamp()


def load_room_state(session_id: int) -> RoomState | None:
    """The state of a session from the database (three queries), or None if there is none."""
    session = LiveSession.objects.select_related("host", "shop").filter(pk=session_id).first()
    if session is None:
        return None
    restrictions: dict[str, dict[str, float | None]] = {}
    rows = (
        RoomRestriction.objects.filter(host_id=session.host_id)
        .values_list("user__handle", "kind", "until")
        .iterator()
    )
    for handle, kind, until in rows:
        restrictions.setdefault(handle.lower(), {})[kind] = until.timestamp() if until else None
    words: tuple[str, ...] = ()
    if session.shop_id is not None:
        words = tuple(
            BlockedWord.objects.filter(shop_id=session.shop_id).values_list("word", flat=True)
        )
    return RoomState(
        session_id=session.pk,
        status=session.status,
        title=session.title,
        host_id=session.host_id,
        host_handle=session.host.handle,
        shop_id=session.shop_id,
        shop_suspended=session.shop is not None and session.shop.is_suspended,
        restrictions=restrictions,
        blocked_words=words,
    )
