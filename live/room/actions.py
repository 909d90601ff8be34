"""What a socket may ask the room to do: a registry of actions, checked server-side.

A client sends `{"action": "<name>", "ref": "<its own id>", ...payload}`. The consumer looks
the name up here, refuses it unless the sender qualifies (signed in; host or staff for host
actions) whatever the client claims, and calls the handler, which calls a service. A
ShopFeedError from the handler becomes an `error` event to that socket alone; the socket
stays open. Handlers are synchronous (run in a thread, they may use the database) unless
registered `on_loop=True`: those are coroutines that must not touch the database (a viewer's
chat message: the busy path).

Modules register handlers with @action (live/chat/actions.py, live/selling/actions.py);
live/apps.py imports them at startup.
"""

from collections.abc import Callable
from dataclasses import dataclass

from channels.db import database_sync_to_async

from shopfeed.errors import NotAllowed, ShopFeedError


@dataclass(frozen=True)
class RoomContext:
    session_id: int
    user: object  # the signed-in user, or AnonymousUser
    is_host: bool
    is_staff: bool

    @property
    def is_authenticated(self) -> bool:
        return bool(getattr(self.user, "is_authenticated", False))


@dataclass(frozen=True)
class Action:
    name: str
    handler: Callable[[RoomContext, dict], object]
    host_only: bool
    login_required: bool
    on_loop: bool = False


REGISTRY: dict[str, Action] = {}


def action(name: str, *, host_only: bool = False, login_required: bool = True, on_loop=False):
    def register(fn):
        if name in REGISTRY:
            raise RuntimeError(f"live action {name!r} registered twice")
        REGISTRY[name] = Action(name, fn, host_only, login_required or host_only, on_loop)
        return fn

    return register


@dataclass(frozen=True)
class Reply:
    """What a handler returns to answer its sender alone: a `type` event on that socket, with
    the frame's `ref` added to `data` (a gift's ack with the new balance)."""

    type: str
    data: dict


class UnknownAction(ShopFeedError):
    """Unknown action."""

    code = "unknown_action"


def _checked(ctx: RoomContext, name: str) -> Action:
    act = REGISTRY.get(name)
    if act is None:
        raise UnknownAction(f"Unknown action {name!r}.")
    if act.login_required and not ctx.is_authenticated:
        raise NotAllowed("Log in to do that.", code="login_required")
    if act.host_only and not (ctx.is_host or ctx.is_staff):
        raise NotAllowed("Only the host can do that.", code="host_only")
    return act


def on_loop(name: str) -> bool:
    """Whether an action runs on the event loop (and so may run beside the socket's next)."""
    act = REGISTRY.get(name)
    return act is not None and act.on_loop


def dispatch(ctx: RoomContext, name: str, payload: dict):
    """Run one synchronous action here (tests, scripts); the consumer uses adispatch()."""
    act = _checked(ctx, name)
    if act.on_loop:
        from asgiref.sync import async_to_sync

        return async_to_sync(act.handler)(ctx, payload)
    return act.handler(ctx, payload)


async def adispatch(ctx: RoomContext, name: str, payload: dict):
    """Run one action from the consumer: on the event loop, or in a database thread."""
    act = _checked(ctx, name)
    if act.on_loop:
        return await act.handler(ctx, payload)
    return await database_sync_to_async(act.handler)(ctx, payload)
