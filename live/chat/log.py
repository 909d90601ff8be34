"""Chat messages off the database's critical path (DESIGN.md section 5).

Measured before: each message cost 6 SQL statements and 3 Redis round trips on the consumer's
one database thread; at 50 messages/s the chat p99 was 40 s. Now an accepted message costs ONE
Redis round trip, on the event loop: a script that

1. takes a token from the sender's bucket (LIVE_CHAT_RATE tokens, refilled evenly over
   LIVE_CHAT_RATE_WINDOW seconds: someone writing once every window/rate seconds is never
   refused, a burst is cut at LIVE_CHAT_RATE), or says how long to wait;
2. gives the message the room's next event id and publishes it (as live.room.bus does);
3. appends it to the session's chat log, a Redis stream (`{live:<id>}:chat`).

The guarantee: a message is shown to anyone (and its sender gets it back, which is the
acknowledgement) only once it is in the chat log, written by the same atomic script. The log is
drained into PostgreSQL in batches by any process serving the room (every
LIVE_CHAT_FLUSH_SECONDS) and by a Celery beat sweep for rooms no process serves any more; a
drain inserts with ON CONFLICT DO NOTHING on the message's uid (drawn when it is sent) before
trimming what it inserted, so a drain that dies half-way, or two at once, store each message
exactly once. (Not on the event id: ids start again if Redis loses its data.) A web
process killed right after acknowledging loses nothing. (Redis itself must keep its data:
run it with AOF for that, as for the replay window.)

Without Redis (`make run`'s embedded default, one process) a message is published on the
in-process bus and its row written at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import uuid
from datetime import UTC, datetime

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from redis.exceptions import NoScriptError

from live.models import ChatMessage
from live.room.bus import _keys as bus_keys
from shopfeed.errors import ShopFeedError
from shopfeed.lua import NOW_MS, TOKEN_BUCKET

logger = logging.getLogger(__name__)

FLUSH_BATCH = 1000  # messages per INSERT
PIPELINE = 200  # chat scripts per Redis round trip at most

# KEYS: seq, replay events, channel, the sender's bucket, the chat log.
# ARGV: replay window, the data after `{"id":N,`, tokens per ms, burst, user id, text, uid.
# Returns {event id, 0}, or {0, ms to wait} when the bucket is empty.
_CHAT_LUA = (
    NOW_MS
    + TOKEN_BUCKET
    + """
local now = now_ms()
local per_ms = tonumber(ARGV[3])
local wait = take_token(KEYS[4], now, per_ms, tonumber(ARGV[4]))
if wait > 0 then
  return {0, wait}
end
local id = redis.call('INCR', KEYS[1])
local frame = '{"type":"chat.message","id":' .. id .. ',"ts":' .. now
    .. ',"data":{"id":' .. id .. ',' .. ARGV[2] .. '}'
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[1], id .. '-0', 'f', frame)
redis.call('PUBLISH', KEYS[3], frame)
redis.call('XADD', KEYS[5], '*', 'i', id, 'u', ARGV[5], 'x', ARGV[6], 't', now, 'k', ARGV[7])
return {id, 0}
"""
)


class RateLimited(ShopFeedError):
    """You are sending messages too fast."""

    code = "rate_limited"
    status_code = 429


def log_key(session_id: int) -> str:
    return f"{{live:{session_id}}}:chat"


def _bucket_key(session_id: int, user_id: int) -> str:
    return f"{{live:{session_id}}}:chat-rate:{user_id}"


def _refused(wait_ms: int) -> RateLimited:
    rate, window = settings.LIVE_CHAT_RATE, settings.LIVE_CHAT_RATE_WINDOW
    wait = max(1, math.ceil(wait_ms / 1000))
    return RateLimited(
        f"Slow down: at most {rate} messages every {window} seconds. Try again in {wait} s."
    )


def message_data(user, text: str) -> dict:
    who = {"handle": user.handle, "name": user.name}
    # Set on the socket's user by live.gifting when the viewer lets their level show.
    level = getattr(user, "supporter_level", None)
    if level:
        who["level"] = level
    return {"user": who, "text": text}


class RedisChatLog:
    """Post a checked message: one script round trip on the event loop (see the module).

    Messages posted while a round trip is in flight go together in the next one, as one
    pipeline: redis-py spends ~280 us of CPU a call on its own, ~80 us a call in pipelines of
    50 (measured on the 2-core machine), and a chat flood arrives from hundreds of sockets at
    once. A quiet room's message goes out at once, alone."""

    def __init__(self, client):
        self.client = client
        self._script = client.register_script(_CHAT_LUA)
        self._queued: list[tuple[list, list, asyncio.Future]] = []
        self._sender: asyncio.Task | None = None

    async def post(self, *, session_id: int, user, text: str) -> int:
        rate, window = settings.LIVE_CHAT_RATE, settings.LIVE_CHAT_RATE_WINDOW
        seq, events, channel = bus_keys(session_id)
        tail = json.dumps(message_data(user, text), separators=(",", ":"), ensure_ascii=False)
        keys = [seq, events, channel, _bucket_key(session_id, user.pk), log_key(session_id)]
        args = [
            settings.LIVE_REPLAY_WINDOW,
            tail[1:],  # the data object without its opening brace: the script adds the id
            repr(rate / (window * 1000)),
            rate,
            user.pk,
            text,
            uuid.uuid4().hex,
        ]
        loop = asyncio.get_running_loop()
        answer = loop.create_future()
        self._queued.append((keys, args, answer))
        if self._sender is None:
            self._sender = loop.create_task(self._send())
        event_id, wait_ms = await answer
        if not event_id:
            raise _refused(int(wait_ms))
        return int(event_id)

    async def _send(self) -> None:
        # A task's first step runs on the loop's next pass: every socket whose frame came in on
        # this pass has queued its message by then.
        try:
            while self._queued:
                batch, self._queued = self._queued[:PIPELINE], self._queued[PIPELINE:]
                try:
                    if len(batch) == 1:  # alone: no pipeline
                        answers = [await self._script(keys=batch[0][0], args=batch[0][1])]
                    else:
                        answers = await self._pipelined(batch)
                except Exception as exc:  # noqa: BLE001 - each sender hears it
                    answers = [exc] * len(batch)
                for (_, _, answer), got in zip(batch, answers, strict=True):
                    if answer.done():
                        continue  # its socket went away meanwhile
                    if isinstance(got, BaseException):
                        answer.set_exception(got)
                    else:
                        answer.set_result(got)
        finally:
            self._sender = None

    async def _pipelined(self, batch: list) -> list:
        """EVALSHA for each message in one pipeline, one round trip. (redis-py's Script on a
        pipeline first asks SCRIPT EXISTS: a second round trip for every batch, and the next
        batch waited for both. A script Redis no longer has, after a restart or a flush, is
        loaded and only those messages are sent again: a NOSCRIPT reply means it did not run.)"""
        answers = await self._evalshas(batch)
        missing = [i for i, got in enumerate(answers) if isinstance(got, NoScriptError)]
        if missing:
            self._script.sha = await self.client.script_load(_CHAT_LUA)
            again = await self._evalshas([batch[i] for i in missing])
            for i, got in zip(missing, again, strict=True):
                answers[i] = got
        return answers

    async def _evalshas(self, batch: list) -> list:
        async with self.client.pipeline(transaction=False) as pipe:
            for keys, args, _ in batch:
                pipe.evalsha(self._script.sha, len(keys), *keys, *args)
            return await pipe.execute(raise_on_error=False)


class MemoryChatLog:
    """No Redis: the in-process bus, the row written at once (through the hub's own thread)."""

    def __init__(self, run_sync):
        self.run_sync = run_sync

    async def post(self, *, session_id: int, user, text: str) -> int:
        from live.chat.services import check_rate
        from live.room.bus import get_bus

        check_rate(user_id=user.pk)
        event_id = get_bus().publish(
            session_id, "chat.message", message_data(user, text), id_in_data=True
        )
        await self.run_sync(_store_one, session_id, user.pk, text, event_id)
        return event_id


def _store_one(session_id: int, user_id: int, text: str, event_id: int) -> None:
    ChatMessage.objects.create(
        session_id=session_id, user_id=user_id, text=text, event_id=event_id, uid=uuid.uuid4()
    )


def flush_chat_log(session_id: int, *, client=None) -> int:
    """Store what the session's chat log holds (idempotent; one drain at a time per session,
    others return at once). Returns the number of messages drained."""
    from live.room.bus import get_bus

    client = client or get_bus().client
    key = log_key(session_id)
    lock, token = f"{key}-flush", uuid.uuid4().hex
    if not client.set(lock, token, nx=True, px=30_000):
        return 0
    drained = 0
    try:
        while rows := client.xrange(key, "-", "+", count=FLUSH_BATCH):
            _insert(session_id, rows)
            # Exact trim (not "~"): everything up to the last stored entry, nothing after it.
            ms, seq = rows[-1][0].split(b"-")
            client.xtrim(key, minid=f"{int(ms)}-{int(seq) + 1}", approximate=False)
            drained += len(rows)
            if len(rows) < FLUSH_BATCH:
                break
    finally:
        if client.get(lock) == token.encode():
            client.delete(lock)
    return drained


def _insert(session_id: int, rows) -> None:
    messages = [
        ChatMessage(
            session_id=session_id,
            user_id=int(fields[b"u"]),
            text=fields[b"x"].decode(),
            event_id=int(fields[b"i"]),
            uid=uuid.UUID(fields[b"k"].decode()),
            created_at=datetime.fromtimestamp(int(fields[b"t"]) / 1000, UTC),
        )
        for _, fields in rows
    ]
    try:
        with transaction.atomic():
            _constraints_now()
            ChatMessage.objects.bulk_create(messages, ignore_conflicts=True)
    except IntegrityError:
        # One bad row (its user or session deleted meanwhile) must not hold the log up.
        for message in messages:
            try:
                with transaction.atomic():
                    _constraints_now()
                    ChatMessage.objects.bulk_create([message], ignore_conflicts=True)
            except IntegrityError:
                logger.warning(
                    "live chat: dropped message %s of session %s: its user or session is gone",
                    message.event_id,
                    session_id,
                )


def _constraints_now() -> None:
    # PostgreSQL checks Django's foreign keys at commit (DEFERRABLE INITIALLY DEFERRED): check
    # them at the INSERT instead, so a bad row fails inside this block, whatever encloses it.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def pending_sessions(client=None) -> list[int]:
    """Sessions whose chat log holds messages (the beat sweep's list)."""
    from live.room.bus import get_bus

    client = client or get_bus().client
    found = []
    for key in client.scan_iter(match="{live:*}:chat", count=1000):
        found.append(int(key.split(b"}")[0].split(b":")[1]))
    return found
