"""This process's one Redis pub/sub connection, read by exactly one task.

redis-py's asyncio PubSub lets any coroutine read its connection: with a health-check interval
the SUBSCRIBE of the first room after an idle spell runs a PING and reads its reply while the
reader task is already reading, and asyncio refuses the second read ("readuntil() called while
another coroutine is already waiting"); the joining socket died without a close frame. Its
automatic reconnect also resubscribes from inside whichever coroutine noticed the failure.

Here one task owns the connection: it connects, subscribes to every wanted channel, reads,
pings when the line has been quiet (the PONG comes back through the same reader), and on any
failure or a missing PONG drops the connection and starts again. Other coroutines only *write*
SUBSCRIBE/UNSUBSCRIBE, and only while the connection is up; a channel wanted while it is down
is subscribed by the reconnect. Every subscription confirmation is reported (`on_subscribed`),
so the hub can fetch from the replay window whatever was published while it was not
subscribed.

Redis 7.0 has no `CLIENT MAINT_NOTIFICATIONS` (a Redis Enterprise/Cloud feature redis-py 8
asks for on every RESP3 connect): every room connection turns it off (bus.redis_options).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from collections.abc import Callable

logger = logging.getLogger(__name__)

BATCH = 200  # messages taken in one wake-up when they have already arrived
CONFIRM_TIMEOUT = 10.0


class Subscription:
    def __init__(
        self,
        url: str,
        *,
        on_messages: Callable[[bytes, list[bytes]], None],
        on_subscribed: Callable[[bytes], None],
        ping_every: float,
    ):
        self.url = url
        self.on_messages = on_messages
        self.on_subscribed = on_subscribed
        self.ping_every = ping_every
        self.wanted: set[bytes] = set()
        self.connects = 0  # connections made (the first one and every reconnect)
        self._conn = None
        self._up = False  # connected and subscribed to what was wanted then
        self._waiters: dict[bytes, list[asyncio.Future]] = {}
        self._task: asyncio.Task | None = None
        self._outgoing: deque[tuple] = deque()
        self._writer: asyncio.Task | None = None

    # -- what the hub calls --------------------------------------------------------------------

    async def subscribe(self, channel: bytes) -> None:
        """Return once Redis confirms the subscription (raises TimeoutError after 10 s)."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiters.setdefault(channel, []).append(waiter)
        self.wanted.add(channel)
        self._start()
        self._send("SUBSCRIBE", channel)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), CONFIRM_TIMEOUT)
        finally:
            waiters = self._waiters.get(channel)
            if waiters and waiter in waiters:
                waiters.remove(waiter)

    def unsubscribe(self, channel: bytes) -> None:
        self.wanted.discard(channel)
        self._send("UNSUBSCRIBE", channel)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        self._task = None

    # -- the one reader ------------------------------------------------------------------------

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def _send(self, *command) -> None:
        """Queue a command for the connection, in call order (an UNSUBSCRIBE then a SUBSCRIBE
        of the same channel must reach Redis in that order)."""
        if not self._up:
            return  # the reconnect subscribes to everything wanted
        self._outgoing.append(command)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        while self._outgoing and self._up:
            command = self._outgoing.popleft()
            try:
                await self._conn.send_command(*command, check_health=False)
            except Exception:  # noqa: BLE001 - the reader sees the broken connection and starts again
                logger.warning("live pub/sub: %s failed; the reader reconnects", command[0])
                return

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._connect()
                delay = 0.1
                await self._read()
            except asyncio.CancelledError:
                await self._drop()
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: reconnect and catch up
                logger.warning("live pub/sub: connection lost (%s); reconnecting", exc)
            await self._drop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _connect(self) -> None:
        import redis.asyncio as aioredis

        from .bus import redis_options

        client = aioredis.Redis.from_url(
            self.url,
            **redis_options(),
            # RESP2: messages are plain replies to this reader (RESP3 would hand them, as push
            # messages, to a handler instead of read_response()).
            protocol=2,
            # Our own keep-alive runs through the reader: redis-py's would read on its own.
            health_check_interval=0,
            client_name=f"live-hub-{os.getpid()}",
            socket_connect_timeout=5,
        )
        conn = await client.connection_pool.get_connection()
        self._conn = conn
        self.connects += 1
        # No await between going up and reading `wanted`: a channel added before this line is
        # in the SUBSCRIBE below, one added after writes its own.
        self._up = True
        channels = list(self.wanted)
        if channels:
            await conn.send_command("SUBSCRIBE", *channels, check_health=False)

    async def _drop(self) -> None:
        self._up = False
        self._outgoing.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.disconnect(nowait=True)

    async def _read(self) -> None:
        conn = self._conn
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        pinged = False
        while True:
            response = await conn.read_response(timeout=self.ping_every)
            if response is None:  # nothing for ping_every seconds
                if pinged and loop.time() - quiet_since >= 2 * self.ping_every:
                    raise ConnectionError("no answer to PING")
                if not pinged:
                    await conn.send_command("PING", check_health=False)
                    pinged = True
                continue
            quiet_since, pinged = loop.time(), False
            batch = [response]
            # Take whatever else has already arrived: under load a room's frames go out
            # together, one write per socket for several events.
            while len(batch) < BATCH and await conn.can_read_destructive():
                batch.append(await conn.read_response(timeout=self.ping_every))
            self._dispatch(batch)

    def _dispatch(self, batch: list) -> None:
        frames: dict[bytes, list[bytes]] = {}
        for response in batch:
            if not isinstance(response, list) or len(response) < 2:
                continue  # PONG
            kind = response[0]
            if kind == b"message":
                frames.setdefault(response[1], []).append(response[2])
            elif kind == b"subscribe":
                channel = response[1]
                for waiter in self._waiters.pop(channel, []):
                    if not waiter.done():
                        waiter.set_result(True)
                if channel in self.wanted:
                    self.on_subscribed(channel)
        for channel, texts in frames.items():
            self.on_messages(channel, texts)
