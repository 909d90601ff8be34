"""The live room's WebSocket (`/ws/live/<session_id>/`): thin, as DESIGN.md section 5 asks.

It admits the socket (the session exists and is watchable; a banned user is refused), hands
it to this process's room hub, sends the "hello" snapshot, replays what a reconnecting client
missed, and turns client frames into actions (live.room.actions.adispatch) whose rules live in
services. Admission is in admission.py (from the room state the process keeps, state.py), the
snapshot in snapshot.py and upkeep.py: joining does no database work per viewer. Delivery of
room events is the hub's job, not this consumer's: there is no Channels layer per socket (see
hub.py for why).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError

from shopfeed.errors import ShopFeedError

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


def _viewer_key(scope, user) -> str:
    if getattr(user, "is_authenticated", False):
        return f"u:{user.pk}"
    key = scope.get("session_key")  # shopfeed.ws_auth: the session cookie, if any
    if not key:
        client = scope.get("client") or ("", 0)
        headers = dict(scope.get("headers") or [])
        key = f"{client[0]}|{headers.get(b'user-agent', b'').decode('latin-1')}"
    return "a:" + hashlib.sha256(key.encode()).hexdigest()[:40]


class LiveRoomConsumer(AsyncWebsocketConsumer):
    # No such layer: a socket needs no channel of its own, the hub fans out (live/room/hub.py).
    channel_layer_alias = "live-room-hub"

    sock: RoomSocket | None = None
    _grace: asyncio.TimerHandle | None = None
    _floor = 0  # with sock.synced_upto: the socket has had every event id in between

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._acting: set[asyncio.Task] = set()  # event-loop actions still running

    async def __call__(self, scope, receive, send):
        # Every way out (a close, a vanished client, an exception, the server shutting down and
        # cancelling us) takes the socket out of its room: a socket left in would count as a
        # viewer for as long as the process lives.
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()

    def _release(self) -> None:
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        sock, self.sock = self.sock, None
        if sock is not None and sock.hub is not None:
            sock.hub.leave(sock)

    async def dispatch(self, message):
        # Channels' dispatch first closes stale database connections through the one
        # thread-sensitive executor: a thread hop per frame of every socket, all queued on one
        # thread. The room does no database work on the event loop, and the actions that do
        # run through database_sync_to_async, which closes them itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_connect(self, message):
        self.session_id = int(self.scope["url_route"]["kwargs"]["session_id"])
        user = self.scope.get("user")
        # The model instance, not Channels' lazy wrapper, goes to services.
        user = AnonymousUser() if user is None else getattr(user, "_wrapped", user)
        self.user = user
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
        await self.accept()
        self.ctx = actions.RoomContext(
            session_id=self.session_id,
            user=user,
            is_host=admission.is_host,
            is_staff=admission.is_staff,
        )
        self.sock = RoomSocket(
            session_id=self.session_id,
            send=self.base_send,
            user_id=getattr(user, "pk", None),
            handle=admission.handle,
        )
        try:
            await hub.join(self.sock, viewer_key=_viewer_key(self.scope, user))
            await self._hello()
        except Exception:
            logger.exception("live room: could not join session %s", self.session_id)
            self._release()
            await self.send(_error("unavailable", "The room is not available; try again."))
            await self.close(1011)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        if "last_id" in query:
            await self._resume(query["last_id"][0], ref=None)
        else:
            # A reconnecting client sends "resume" first: wait for it a moment so that what it
            # missed comes before live events, in order.
            self._grace = asyncio.get_running_loop().call_later(RESUME_GRACE, self._go_live)

    async def _refuse(self, close_code: int, code: str, detail: str) -> None:
        await self.accept()
        await self.send(_error(code, detail))
        await self.close(close_code)

    async def _hello(self) -> None:
        """The room as of some event id, then (from activate()) every event after it."""
        hub = get_hub()
        hello = await hub.upkeep.hello(hub.room(self.session_id))
        self.sock.push(hello)
        self.sock.synced_upto = self._floor = hello.id

    def _go_live(self) -> None:
        self._grace = None
        if self.sock is not None and self.sock.state is PENDING:
            get_hub().activate(self.sock)

    async def websocket_receive(self, message):
        if self.sock is None or self.sock.state is CLOSED:
            return
        try:
            frame = parse_client_frame(message.get("text"))
        except BadFrame as bad:
            self.sock.push_text(_error(bad.code, bad.detail))
            return
        name = frame.pop("action")
        ref = frame.pop("ref", None)
        if not isinstance(ref, str | int) or isinstance(ref, bool):
            ref = None
        elif isinstance(ref, str):
            ref = ref[:64]
        if name == "resume":
            await self._resume(frame.get("last_id"), ref=ref)
            return
        self._go_live_now()
        if actions.on_loop(name) and len(self._acting) < IN_FLIGHT:
            # uvicorn reads a socket's next frame only once this handler returns: a chatter's
            # messages must not wait for each other's Redis round trip (live/chat/log.py). The
            # action runs now up to its first wait (a chat message: queued for Redis), the rest
            # in a task: one pass of the event loop fewer than starting it as a task.
            rest = step(self._act(name, frame, ref))
            if rest is not None:
                task = asyncio.get_running_loop().create_task(_finish(rest))
                self._acting.add(task)
                task.add_done_callback(self._acting.discard)
            return
        await self._act(name, frame, ref)

    async def _act(self, name: str, frame: dict, ref) -> None:
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
        if self._grace is not None:
            self._grace.cancel()
        self._go_live()

    async def _resume(self, raw_last_id, *, ref) -> None:
        """Send exactly the events after `last_id` this socket has not had, then live ones."""
        try:
            last_id = int(raw_last_id)
            if last_id < 0:
                raise ValueError
        except (TypeError, ValueError):
            self.sock.push_text(_error("bad_frame", "resume needs a last_id >= 0.", ref))
            self._go_live_now()
            return
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        hub, sock = get_hub(), self.sock
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
            floor, synced = self._floor, sock.synced_upto
            for text in frames:
                event_id = frame_id(text)
                if floor < event_id <= synced:
                    continue
                sock.push_text(text)
                sock.synced_upto = max(sock.synced_upto, event_id)
            self._floor = min(floor, last_id)
        hub.activate(sock)

    async def websocket_disconnect(self, message):
        self._release()
        raise StopConsumer()
