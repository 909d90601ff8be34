"""What a process keeps for the rooms it serves, beside delivery (live/room/hub.py): the cached
room state admissions and chat are decided from, the shared hello frame, viewer presence and
counts, and the batches that reach the database (viewer counts, chat messages).

Nothing here runs per viewer in a database thread. Database work (a state load, a snapshot
build, a batch of chat rows, a count update) runs in the hub's own thread (`run_sync`), apart
from the consumers' `database_sync_to_async` thread that host actions use, and at most once
per room per event or period, whatever the number of viewers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import close_old_connections, connections

from live.gifting.room import GIFT_EVENTS, gift_room

from .bus import AsyncPublisher, get_bus
from .presence import Presence, persist_viewer_counts
from .snapshot import SNAPSHOT_NEUTRAL, hello_text, snapshot_body, socket_snapshot
from .state import STATE_EVENTS, RoomState, load_room_state

if TYPE_CHECKING:
    from .hub import Event, Hub, Room

logger = logging.getLogger(__name__)

MISSING_FOR = 5.0  # seconds an unknown session id is answered from memory
STATE_RELOADS = 3  # loads tried while state events keep arriving during the load


def _with_db(fn, args):
    close_old_connections()
    try:
        return fn(*args)
    finally:
        close_old_connections()


def event_type(text: str) -> str:
    """The type of a bus frame (`{"type":"...",...}`) without decoding the JSON."""
    return text[9 : text.index('"', 9)]


class Upkeep:
    def __init__(self, hub: Hub):
        self.hub = hub
        self.loop = hub.loop
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-room-db")
        self._missing: dict[int, float] = {}
        self._reported: set[int] = set()  # sessions whose presence this process has written
        self._persist_at: dict[int, float] = {}
        self._memory_counts: dict[int, int] = {}  # no Redis: the count last published
        self._memory_distinct: dict[int, set[str]] = {}
        self._memory_peak: dict[int, int] = {}
        self._presence: Presence | None = None
        self._publisher: AsyncPublisher | None = None
        self._chat_log = None
        self._tasks: list[asyncio.Task] = []

    # -- the hub's database thread ----------------------------------------------------------------

    async def run_sync(self, fn, *args):
        return await self.loop.run_in_executor(self._executor, _with_db, fn, args)

    async def shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        if self._presence is not None:
            await self._presence.flush_seen()
        await self.loop.run_in_executor(self._executor, connections.close_all)
        self._executor.shutdown(wait=False)

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                self.loop.create_task(self._every(self.hub.viewers_every, self.tick)),
                self.loop.create_task(self._every(settings.LIVE_CHAT_FLUSH_SECONDS, self.flush)),
            ]

    async def _every(self, seconds: float, job) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:  # counts and batches retry next time; delivery goes on
                logger.exception("live room upkeep: %s failed", job.__name__)

    # -- room state -------------------------------------------------------------------------------

    async def admission_state(self, session_id: int) -> RoomState | None:
        """The session's state as this process knows it (loaded once per room, kept current
        by the room's events), or None when there is no such session. Subscribes first, so
        that no event between the load and the first socket is missed."""
        missing_until = self._missing.get(session_id)
        if missing_until is not None:
            if time.monotonic() < missing_until:
                return None
            del self._missing[session_id]
        hub = self.hub
        room = hub.room(session_id)
        try:
            await hub.subscribe(room)
            state = await self._state(room)
        finally:
            if not room.count:
                hub.drop_later(room)  # nobody attached (yet): drop it unless someone does
        if state is None:
            if len(self._missing) > 10_000:
                self._missing.clear()
            self._missing[session_id] = time.monotonic() + MISSING_FOR
        return state

    async def _state(self, room: Room) -> RoomState | None:
        state = room.state
        if state is not None:
            if (
                time.monotonic() - state.loaded_at > settings.LIVE_ROOM_STATE_SECONDS
                and room.state_task is None
            ):
                room.state_task = self.loop.create_task(self._load_state(room))
            return state
        if room.state_task is None:
            room.state_task = self.loop.create_task(self._load_state(room))
        return await asyncio.shield(room.state_task)

    async def _load_state(self, room: Room) -> RoomState | None:
        try:
            for _ in range(STATE_RELOADS):
                generation = room.state_gen
                state = await self.run_sync(load_room_state, room.session_id)
                if room.state_gen == generation:
                    break  # no moderation or status event went by during the load
            room.state = state
            return state
        finally:
            room.state_task = None

    def on_events(self, room: Room, events: list[Event]) -> None:
        """Apply a batch of the room's events to what this process keeps (called by the hub
        for every event, in order, once per process)."""
        for ev in events:
            text = ev.text
            type_ = event_type(text)
            if type_ in STATE_EVENTS:
                room.state_gen += 1
                if room.state is not None:
                    room.state.apply(type_, json.loads(text)["data"])
            if type_ in GIFT_EVENTS:
                gift_room(self.hub).on_events(room.session_id, [ev])
            if type_ not in SNAPSHOT_NEUTRAL:
                room.snapshot_gen += 1
                room.snapshot = None
                room.hello = None

    # -- hello ------------------------------------------------------------------------------------

    async def hello(self, room: Room) -> Event:
        """The hello frame for a socket attached to `room`: a snapshot valid as of the event id
        it carries (every later event reaches the socket through the room)."""
        from .hub import Event

        viewers = self.hub.viewers(room.session_id)
        if room.last_id is None:  # lost track after a gap: rebuild from the bus position
            last = await self.hub.last_id(room.session_id)
            data = await self.run_sync(socket_snapshot_json, room.session_id, last, viewers)
            return Event(data, last)
        fresh = room.snapshot is not None and (
            time.monotonic() - room.snapshot_at < settings.LIVE_SNAPSHOT_SECONDS
        )
        if fresh:
            # As of the last event written to the sockets: chat still waiting for its tick
            # (live.chat.batching) reaches this socket with the rest of the room.
            body, event_id = room.snapshot, room.written_id
        else:
            if room.snapshot_task is None:
                room.snapshot_task = self.loop.create_task(self._build_snapshot(room))
            body, generation, as_of = await asyncio.shield(room.snapshot_task)
            # Valid as of now if nothing that changes it went by during the build; otherwise
            # as of where the build began, and the socket gets the events since.
            event_id = room.written_id if room.snapshot_gen == generation else as_of
        gifts = gift_room(self.hub)
        board = await gifts.board(room.session_id)
        cached = room.hello
        # The gift board counts too: it can move on without an event (a combo's sends).
        version = gifts.board_version(room.session_id)
        if (
            cached is not None
            and cached[0] == event_id
            and cached[1] == viewers
            and gifts.hello_version.get(room.session_id) == version
        ):
            return cached[2]
        ev = Event(hello_text(body, event_id=event_id, viewers=viewers, gifts=board), event_id)
        room.hello = (event_id, viewers, ev)
        gifts.hello_version[room.session_id] = version
        return ev

    async def _build_snapshot(self, room: Room) -> tuple[str, int, int]:
        generation, as_of = room.snapshot_gen, room.written_id
        try:
            body = await self.run_sync(snapshot_body, room.session_id)
        finally:
            room.snapshot_task = None
        if room.snapshot_gen == generation:
            room.snapshot, room.snapshot_at = body, time.monotonic()
        return body, generation, as_of

    # -- viewers ----------------------------------------------------------------------------------

    def _redis_parts(self) -> tuple[Presence, AsyncPublisher]:
        if self._presence is None:
            client = self.hub._async_redis()
            self._presence = Presence(client, self.hub.token, self.hub.viewers_every)
            self._publisher = AsyncPublisher(client, settings.LIVE_REPLAY_WINDOW)
        return self._presence, self._publisher

    def seen(self, session_id: int, viewer_key: str) -> None:
        """A viewer arrived: count them among the session's distinct viewers."""
        if self.hub.redis_url:
            self._redis_parts()[0].seen(session_id, viewer_key)
        else:
            self._memory_distinct.setdefault(session_id, set()).add(viewer_key)

    def holds(self, session_id: int) -> bool:
        """Whether the others may still count this process's viewers of the session."""
        return session_id in self._reported or session_id in self._memory_counts

    async def tick(self) -> None:
        """The heartbeat: write this process's count of each room; publish the room's total
        when it changed (at most once a second per room across processes); now and then bring
        the session row up to date."""
        now = time.monotonic()
        for session_id, room in list(self.hub.rooms.items()):
            count = room.count
            if not self.hub.redis_url:
                await self._memory_tick(session_id, count)
                continue
            if not count and session_id not in self._reported:
                continue
            presence, publisher = self._redis_parts()
            total, _ = await presence.tick(session_id, count)
            if total >= 0:
                await publisher.publish(session_id, "viewers", {"count": total})
            if count:
                self._reported.add(session_id)
                if now >= self._persist_at.get(session_id, 0):
                    self._persist_at[session_id] = now + settings.LIVE_VIEWERS_PERSIST_SECONDS
                    if await presence.persist_due(session_id):
                        await self.run_sync(persist_viewer_counts, session_id)
            else:  # this process's last socket left: its field is gone; write the row once
                self._reported.discard(session_id)
                self._persist_at.pop(session_id, None)
                await presence.flush_seen()
                await self.run_sync(persist_viewer_counts, session_id)

    async def _memory_tick(self, session_id: int, count: int) -> None:
        if self._memory_counts.get(session_id) == count or (
            not count and session_id not in self._memory_counts
        ):
            return
        if count:
            self._memory_counts[session_id] = count
        else:
            self._memory_counts.pop(session_id, None)
        peak = self._memory_peak[session_id] = max(self._memory_peak.get(session_id, 0), count)
        distinct = len(self._memory_distinct.get(session_id, ()))
        get_bus().publish(session_id, "viewers", {"count": count})
        await self.run_sync(_persist_counts, session_id, distinct, peak)

    # -- chat -------------------------------------------------------------------------------------

    def chat_log(self):
        from live.chat.log import MemoryChatLog, RedisChatLog

        if self._chat_log is None:
            if self.hub.redis_url:
                self._chat_log = RedisChatLog(self.hub._async_redis())
            else:
                self._chat_log = MemoryChatLog(self.run_sync)
        return self._chat_log

    async def flush(self) -> None:
        """Store the chat messages waiting in the logs of the rooms this process serves."""
        if not self.hub.redis_url or not self.hub.rooms:
            return
        from live.chat.log import flush_chat_log, log_key

        session_ids = list(self.hub.rooms)
        async with self.hub._async_redis().pipeline(transaction=False) as pipe:
            for session_id in session_ids:
                pipe.xlen(log_key(session_id))
            lengths = await pipe.execute()
        for session_id, length in zip(session_ids, lengths, strict=True):
            if length:
                await self.run_sync(flush_chat_log, session_id)


def socket_snapshot_json(session_id: int, last_id: int, viewers: int) -> str:
    data = socket_snapshot(session_id=session_id, last_id=last_id)
    data["viewers"] = viewers
    return json.dumps(
        {"type": "hello", "id": last_id, "ts": int(time.time() * 1000), "data": data},
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )


def _persist_counts(session_id: int, distinct: int, peak: int) -> None:
    from django.db.models import F
    from django.db.models.functions import Greatest

    from live.models import LiveSession

    LiveSession.objects.filter(pk=session_id).update(
        total_viewers=Greatest(F("total_viewers"), distinct),
        peak_viewers=Greatest(F("peak_viewers"), peak),
    )
