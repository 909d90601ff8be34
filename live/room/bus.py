"""The event bus behind every live room (DESIGN.md section 5).

Each event is encoded ONCE into its envelope `{"type", "id", "ts", "data"}`; the id is a
per-session counter assigned atomically with the append to a bounded replay buffer (exactly
the last LIVE_REPLAY_WINDOW events) and the publish, so ids are monotonic per session whichever
process publishes.

- RedisBus (production, CI): one Lua script does INCR + XADD (MAXLEN window) + PUBLISH on
  channel `live:db<redis db>:<session_id>`; web processes subscribe once per session they
  serve.
- MemoryBus (the embedded default for `make run` without Redis): the same contract inside one
  process; events published from another process (a Celery worker) do not reach it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from functools import lru_cache
from typing import cast

from django.conf import settings

TYPE_RE = re.compile(r"^[a-z][a-z0-9_.]{0,39}$")

_PUBLISH_LUA = """
local id = redis.call('INCR', KEYS[1])
local frame = '{"type":"' .. ARGV[1] .. '","id":' .. id
    .. ',"ts":' .. ARGV[2] .. ',"data":' .. ARGV[3] .. '}'
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[4], id .. '-0', 'f', frame)
redis.call('PUBLISH', KEYS[3], frame)
return id
"""


def redis_options() -> dict:
    """Options for every Redis client of the room. redis-py 8 asks a RESP3 server for
    maintenance notifications (`CLIENT MAINT_NOTIFICATIONS`, Redis Enterprise/Cloud only) on
    every connect; Redis 7.0 refuses the command, which costs a round trip and, on a reconnect
    under load, a failed connection. The room needs none of it."""
    from redis.maint_notifications import MaintNotificationsConfig

    return {"maint_notifications_config": MaintNotificationsConfig(enabled=False)}


def channel_name(session_id: int) -> str:
    # Pub/sub channels are shared by every database of a Redis server (keys are not): name the
    # database in the channel so two deployments (or test runs) on one server never cross-talk.
    return f"live:db{_redis_db()}:{session_id}"


@lru_cache(maxsize=1)
def _redis_db() -> str:
    from urllib.parse import urlparse

    return (urlparse(settings.REDIS_URL).path or "/").strip("/") or "0"


def _keys(session_id: int) -> list[str]:
    # One hash tag so a Redis Cluster keeps a session's keys together.
    tag = f"{{live:{session_id}}}"
    return [f"{tag}:seq", f"{tag}:events", channel_name(session_id)]


def _check(type_: str, data) -> str:
    if not TYPE_RE.match(type_):
        raise ValueError(f"bad event type {type_!r}")
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)


def _now_ms() -> int:
    return int(time.time() * 1000)


class RedisBus:
    def __init__(self, url: str, window: int):
        import redis

        self.url = url
        self.window = window
        self.client = redis.Redis.from_url(url, **redis_options())
        self._script = self.client.register_script(_PUBLISH_LUA)

    def publish(self, session_id: int, type_: str, data) -> int:
        body = _check(type_, data)
        return int(self._script(keys=_keys(session_id), args=[type_, _now_ms(), body, self.window]))

    def replay(self, session_id: int, after_id: int) -> list[str] | None:
        """Frames with id > after_id, oldest first; None when the window no longer has them."""
        _, events, _ = _keys(session_id)
        last = int(self.client.get(_keys(session_id)[0]) or 0)
        if after_id >= last:
            return []
        # redis-py types entries for both response modes; this client does not decode, so
        # every id and field is bytes.
        rows = cast(
            "list[tuple[bytes, dict[bytes, bytes]]]",
            self.client.xrange(events, min=f"({after_id}-0", max="+"),
        )
        if not rows or int(rows[0][0].split(b"-")[0]) != after_id + 1:
            return None
        return [fields[b"f"].decode() for _, fields in rows]

    def last_id(self, session_id: int) -> int:
        return int(self.client.get(_keys(session_id)[0]) or 0)


class AsyncPublisher:
    """The same script from an asyncio Redis client: the room's own events (viewer counts)
    are published from the event loop, with no thread hop."""

    def __init__(self, client, window: int):
        self.window = window
        self._script = client.register_script(_PUBLISH_LUA)

    async def publish(self, session_id: int, type_: str, data) -> int:
        body = _check(type_, data)
        return int(
            await self._script(keys=_keys(session_id), args=[type_, _now_ms(), body, self.window])
        )


class MemoryBus:
    def __init__(self, window: int):
        self.window = window
        self._lock = threading.Lock()
        self._seq: dict[int, int] = defaultdict(int)
        self._events: dict[int, deque] = defaultdict(lambda: deque(maxlen=self.window))
        self._listeners: list[Callable[[int, str], None]] = []

    def add_listener(self, fn: Callable[[int, str], None]) -> None:
        """In-process subscribers (the room hub) receive (session_id, frame)."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[int, str], None]) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def publish(self, session_id: int, type_: str, data, *, id_in_data: bool = False) -> int:
        """With `id_in_data`, `data` (a dict) also carries the event id as "id" (a chat
        message's id is its event's)."""
        _check(type_, None)
        with self._lock:
            self._seq[session_id] += 1
            event_id = self._seq[session_id]
            body = _check(type_, {"id": event_id, **data} if id_in_data else data)
            frame = f'{{"type":"{type_}","id":{event_id},"ts":{_now_ms()},"data":{body}}}'
            self._events[session_id].append((event_id, frame))
        for fn in list(self._listeners):
            fn(session_id, frame)
        return event_id

    def replay(self, session_id: int, after_id: int) -> list[str] | None:
        with self._lock:
            if after_id >= self._seq[session_id]:
                return []
            events = list(self._events[session_id])
        if not events or events[0][0] > after_id + 1:
            return None
        return [frame for event_id, frame in events if event_id > after_id]

    def last_id(self, session_id: int) -> int:
        return self._seq[session_id]


@lru_cache(maxsize=1)
def get_bus() -> RedisBus | MemoryBus:
    if settings.REDIS_URL:
        return RedisBus(settings.REDIS_URL, settings.LIVE_REPLAY_WINDOW)
    return MemoryBus(settings.LIVE_REPLAY_WINDOW)
