"""The live room's WebSocket (`/ws/live/<session_id>/`): thin, as DESIGN.md section 5 asks.

It admits the socket (the session exists and is watchable; a banned user is refused), hands
it to this process's room hub, sends the "hello" snapshot, replays what a reconnecting client
missed, and turns client frames into actions (live.room.actions.adispatch) whose rules live in
services. Admission is in admission.py (from the room state the process keeps, state.py), the
snapshot in snapshot.py and upkeep.py: joining does no database work per viewer. Delivery of
room events is the hub's job, not this consumer's (see hub.py).

This is a plain ASGI application, not a Channels consumer (shopfeed/asgi.py routes the path
here; every other WebSocket path still goes through Channels). A room holds thousands of idle
sockets, and Channels' machinery stayed alive with each of them: the middleware stack's scope
copies and coroutine frames, a dispatch loop and a receive task per socket (~7 KiB of a
socket's ~26 measured with tracemalloc), and every client frame took extra event-loop passes
(the receive task, then the dispatch wait) before its action started. Here the door
(shopfeed.ws_auth.authenticate: rate, exact origin, ticket / token / session cookie) runs
once at the handshake and leaves nothing behind; the socket is then one slotted RoomConnection
and one receive loop in the server's own task, and a frame's action starts in the pass that
reads it. Clients see the same URL, frames, actions and close codes as before.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from urllib.parse import parse_qs

from django.core.exceptions import ValidationError

from shopfeed.errors import ShopFeedError
from shopfeed.ws_auth import authenticate

from . import actions
from .admission import admit
from .bus import get_bus
from .frames import BadFrame, parse_client_frame
from .hub import CLOSED, PENDING, RoomSocket, frame_id, get_hub, step

logger = logging.getLogger(__name__)

RESUME_GRACE = 0.3  # seconds a new socket waits for a "resume" before live delivery starts
IN_FLIGHT = 8  # event-loop actions (chat) a socket may have running; past it, it waits for them


def _envelope(type_: str, data, event_id: int | None = None) -> str:
    body = {"type": type_}
    if event_id is not None:
        body["id"] = event_id
    body["ts"] = int(time.time() * 1000)
    body["data"] = data
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str)


async def _finish(rest) -> None:
    await rest


def _error(code: str, detail: str, ref=None) -> str:
    return _envelope("error", {"code": code, "detail": detail, "ref": ref})


def _viewer_key(scope, user, session_key: str | None) -> str:
    if getattr(user, "is_authenticated", False):
        return f"u:{user.pk}"
    key = session_key
    if not key:
        client = scope.get("client") or ("", 0)
        headers = dict(scope.get("headers") or [])
        key = f"{client[0]}|{headers.get(b'user-agent', b'').decode('latin-1')}"
    return "a:" + hashlib.sha256(key.encode()).hexdigest()[:40]


async def live_room(scope, receive, send, *, session_id: str | int) -> None:
    """The ASGI application of one room socket: the door, then one receive loop."""
    session_id = int(session_id)
    # The door runs in a task of its own: what it leaves in context variables (Django's cache
    # handler keeps a cache object per context, ~0.8 KiB) goes with that task, not with the
    # socket's.
    who = await asyncio.get_running_loop().create_task(authenticate(scope, receive, send))
    if who is None:
        return  # refused at the handshake (answered by the door)
    user, session_key = who
    # The model instance, not a lazy wrapper, goes to services.
    user = getattr(user, "_wrapped", user)
    conn = RoomConnection(session_id, user, send)
    try:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                rest = conn.on_frame(message.get("text"))
                if rest is not None:
                    await rest
            elif kind == "websocket.connect":
                await conn.connect(scope, session_key)
                # Read only at the handshake; the server keeps the scope as long as the socket.
                scope["headers"] = []
            elif kind == "websocket.disconnect":
                return
    finally:
        # Every way out (a close, a vanished client, an exception, the server shutting down and
        # cancelling us) takes the socket out of its room: a socket left in would count as a
        # viewer for as long as the process lives.
        conn.release()


class RoomConnection:
    """One room socket's own state: who it is and where it stands in the room's event ids."""

    __slots__ = ("session_id", "user", "send", "ctx", "sock", "grace", "floor", "acting")

    def __init__(self, session_id: int, user, send):
        self.session_id = session_id
        self.user = user
        self.send = send
        self.ctx: actions.RoomContext | None = None
        self.sock: RoomSocket | None = None
        self.grace: asyncio.TimerHandle | None = None
        self.floor = 0  # with sock.synced_upto: the socket has had every event id in between
        self.acting: set[asyncio.Task] | None = None  # event-loop actions still running

    def release(self) -> None:
        if self.grace is not None:
            self.grace.cancel()
            self.grace = None
        sock, self.sock = self.sock, None
        if sock is not None and sock.hub is not None:
            sock.hub.leave(sock)

    async def _send_text(self, text: str) -> None:
        await self.send({"type": "websocket.send", "text": text})

    async def _close(self, code: int) -> None:
        await self.send({"type": "websocket.close", "code": code})

    async def connect(self, scope, session_key: str | None) -> None:
        user = self.user
        hub = get_hub()
        try:
            state = await hub.upkeep.admission_state(self.session_id)
        except Exception:
            logger.exception("live room: could not load session %s", self.session_id)
            await self._refuse(1011, "unavailable", "The room is not available; try again.")
            return
        admission = admit(state=state, user=user)
        if admission.refusal:
            await self._refuse(*admission.refusal)
            return
        await self.send({"type": "websocket.accept", "subprotocol": None})
        self.ctx = actions.RoomContext(
            session_id=self.session_id,
            user=user,
            is_host=admission.is_host,
            is_staff=admission.is_staff,
        )
        self.sock = RoomSocket(
            session_id=self.session_id,
            send=self.send,
            user_id=getattr(user, "pk", None),
            handle=admission.handle,
        )
        try:
            await hub.join(self.sock, viewer_key=_viewer_key(scope, user, session_key))
            await self._hello()
        except Exception:
            logger.exception("live room: could not join session %s", self.session_id)
            self.release()
            await self._send_text(_error("unavailable", "The room is not available; try again."))
            await self._close(1011)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if "last_id" in query:
            await self._resume(query["last_id"][0], ref=None)
        else:
            # A reconnecting client sends "resume" first: wait for it a moment so that what it
            # missed comes before live events, in order.
            self.grace = asyncio.get_running_loop().call_later(RESUME_GRACE, self._go_live)

    async def _refuse(self, close_code: int, code: str, detail: str) -> None:
        await self.send({"type": "websocket.accept", "subprotocol": None})
        await self._send_text(_error(code, detail))
        await self._close(close_code)

    async def _hello(self) -> None:
        """The room as of some event id, then (from activate()) every event after it."""
        hub = get_hub()
        assert self.sock is not None
        hello = await hub.upkeep.hello(hub.room(self.session_id))
        self.sock.push(hello)
        self.sock.synced_upto = self.floor = hello.id

    def _go_live(self) -> None:
        self.grace = None
        if self.sock is not None and self.sock.state is PENDING:
            get_hub().activate(self.sock)

    def on_frame(self, text: str | None):
        """Handle one client frame up to its first wait: None when done, else an awaitable
        the receive loop must finish before it reads the next frame (host actions, resume)."""
        sock = self.sock
        if sock is None or sock.state is CLOSED:
            return None
        try:
            frame = parse_client_frame(text)
        except BadFrame as bad:
            sock.push_text(_error(bad.code, bad.detail))
            return None
        name = frame.pop("action")
        ref = frame.pop("ref", None)
        if not isinstance(ref, str | int) or isinstance(ref, bool):
            ref = None
        elif isinstance(ref, str):
            ref = ref[:64]
        if name == "resume":
            return self._resume(frame.get("last_id"), ref=ref)
        self._go_live_now()
        acting = self.acting
        if actions.on_loop(name) and (acting is None or len(acting) < IN_FLIGHT):
            # The server reads a socket's next frame only once this returns: a chatter's
            # messages must not wait for each other's Redis round trip (live/chat/log.py). The
            # action runs now up to its first wait (a chat message: queued for Redis), the rest
            # in a task: the same pass of the event loop that read the frame.
            rest = step(self._act(name, frame, ref))
            if rest is not None:
                if acting is None:
                    acting = self.acting = set()
                task = asyncio.get_running_loop().create_task(_finish(rest))
                acting.add(task)
                task.add_done_callback(acting.discard)
            return None
        return self._act(name, frame, ref)

    async def _act(self, name: str, frame: dict, ref) -> None:
        assert self.ctx is not None
        try:
            result = await actions.adispatch(self.ctx, name, frame)
            if isinstance(result, actions.Reply):
                self._reply(_envelope(result.type, {**result.data, "ref": ref}))
        except ShopFeedError as exc:
            self._reply(_error(exc.code, exc.message, ref))
        except ValidationError as exc:
            self._reply(_error("invalid", " ".join(exc.messages), ref))
        except Exception:
            # A bug, not the client's fault: say so and keep the socket (a 500 is a bug).
            logger.exception("live room: action %r failed", name)
            self._reply(_error("server_error", "Something went wrong on our side.", ref))

    def _reply(self, text: str) -> None:
        if self.sock is not None:
            self.sock.push_text(text)

    def _go_live_now(self) -> None:
        if self.grace is not None:
            self.grace.cancel()
        self._go_live()

    async def _resume(self, raw_last_id, *, ref) -> None:
        """Send exactly the events after `last_id` this socket has not had, then live ones."""
        sock = self.sock
        assert sock is not None
        try:
            last_id = int(raw_last_id)
            if last_id < 0:
                raise ValueError
        except (TypeError, ValueError):
            sock.push_text(_error("bad_frame", "resume needs a last_id >= 0.", ref))
            self._go_live_now()
            return
        if self.grace is not None:
            self.grace.cancel()
            self.grace = None
        hub = get_hub()
        if sock.state is not PENDING:
            hub.hold(sock)
        frames = await asyncio.to_thread(get_bus().replay, self.session_id, last_id)
        if sock.state is CLOSED:
            return
        if frames is None or last_id > await hub.last_id(self.session_id):
            reason = (
                f"Events after {last_id} are no longer kept."
                if frames is None
                else f"Event {last_id} is ahead of this room."
            )
            sock.push_text(_envelope("resync", {"reason": reason}))
            sock.pending = []
            await self._hello()
        else:
            # The socket has had every event in (floor, synced_upto]: send the rest, in order.
            floor, synced = self.floor, sock.synced_upto
            for text in frames:
                event_id = frame_id(text)
                if floor < event_id <= synced:
                    continue
                sock.push_text(text)
                sock.synced_upto = max(sock.synced_upto, event_id)
            self.floor = min(floor, last_id)
        hub.activate(sock)
