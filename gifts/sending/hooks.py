"""The live app's say on sends that name a live session.

gifts sits below live (DESIGN.md section 1), so it cannot ask whether a session is on air or
who hosts it. live registers a resolver at startup (LiveConfig.ready); gifts calls it for
sends that arrive outside the room (HTTP) and name a session. Inside the room, the consumer
checks the session from its cached room state and calls `send_gift` itself.
"""

from collections.abc import Callable

# (session_id: int) -> host user id, or raises a ShopFeedError saying why the session
# cannot take gifts now (not live, not found).
SessionResolver = Callable[[int], int]

_resolver: list[SessionResolver] = []


def register_session_resolver(resolver: SessionResolver) -> None:
    _resolver[:] = [resolver]


def session_resolver() -> SessionResolver | None:
    return _resolver[0] if _resolver else None
