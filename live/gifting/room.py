"""Gifts in the live room (DESIGN.md sections 5 and 5a): the `gift.send` path, combos, the
top gifters and the goal.

A send is a viewer action like chat, on the busy room's inbound path:

1. checked on the event loop from what the process already holds: the payload's shape, the
   room's cached state (live, not the host, not banned), the gift catalogue (cached per
   process), and a token bucket in Redis (one script);
2. debited in the database by `gifts.sending.send_gift` (one balanced posting, idempotent per
   client token) in a small thread pool of its own (LIVE_GIFT_THREADS): never queued behind
   frame writing nor behind the one thread host actions share, and bounded (LIVE_GIFT_QUEUE
   sends waiting; past that the sender is told to try again);
3. after commit, one Redis script publishes it (scripts.SEND): the session's ranking and goal
   move, and a combo-able gift joins its sender's streak, so a storm of cheap gifts costs
   viewers a bounded number of events. A send's event goes out once (a marker per send id):
   a resend with the same client token after a reconnect debits nothing and shows nothing,
   and still gets its ack;
4. the sender gets `gift.ack` (their new balance) on their socket.

Streaks end (`gift.end`) and show their running count from a sweep every process serving the
room runs (SWEEP_EVERY); the script decides atomically, so two processes never end one twice.

Without Redis (`make run`'s embedded default, one process) sends are debited the same way and
each is published on the in-process bus as its own event, the board kept in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone
from redis.exceptions import RedisError

from gifts.errors import (
    ClientTokenReused,
    GiftUnavailable,
    InvalidClientToken,
    InvalidGiftCount,
    SelfGift,
)
from gifts.models import SEND_MAX_COUNT
from gifts.sending import store as gift_store
from gifts.sending.services import CLIENT_TOKEN_RE
from live.models import LiveSession
from live.room.bus import _keys as bus_keys
from live.room.bus import get_bus
from shopfeed.errors import NotAllowed, NotFound, ShopFeedError

from . import scripts

if TYPE_CHECKING:
    from live.room.actions import RoomContext
    from live.room.hub import Event, Hub

logger = logging.getLogger(__name__)

SWEEP_EVERY = 0.25  # seconds between a process's sweeps of its rooms' streaks
CATALOGUE_SECONDS = 30.0  # the catalogue is reloaded this often (and when an unknown id comes)
KEY_TTL = 2 * 24 * 3600  # a session's gift keys outlive any live
ACTIVE_FOR = 120.0  # a room is swept this long after the last gift this process saw in it
LEVEL_SECONDS = 30.0  # a socket's supporter level is reloaded at most this often
GIFT_EVENTS = frozenset({"gift", "gift.end", "gift.goal"})


class RateLimited(ShopFeedError):
    """You are sending gifts too fast."""

    code = "rate_limited"
    status_code = 429


class GiftQueued(ShopFeedError):
    """The send is in the queue but not written yet (the writer is slow or restarting)."""

    code = "gift_pending"
    status_code = 202


def _refused(code: str, *, coins: int, balance: int = 0, cap: int = 0) -> ShopFeedError:
    """The error a refusal of gifts' reserve script (or the writer's `r:<why>`) stands for."""
    from gifts.sending import services as sending

    code = code.removeprefix("r:")
    if code == "frozen":
        return sending.frozen()
    if code == "birth":
        return sending.birth_date_required()
    if code == "age":
        return sending.too_young()
    if code == "host_no":
        return sending.host_cannot_receive()
    if code == "cap":
        return sending.over_cap(coins_total=coins, cap=cap, left=balance)
    if code == "coins":
        return sending.short_of_coins(coins_total=coins, balance=balance)
    if code == "gift":
        return GiftUnavailable("That gift is not available.")
    if code == "token":
        return ClientTokenReused()
    return Busy("The room is very busy; send your gift again in a moment.")


class Busy(ShopFeedError):
    """The room is very busy; send again in a moment."""

    code = "busy"
    status_code = 503


def _key(session_id: int, name: str) -> str:
    return f"{{live:{session_id}}}:g:{name}"


def _board_keys(session_id: int) -> list[str]:
    return [_key(session_id, n) for n in ("ver", "top", "names", "goal")]


def _send_keys(session_id: int, member: str) -> list[str]:
    """The keys scripts.SEND and RESERVE_AND_SEND publish a send with, in their order."""
    seq, events, channel = bus_keys(session_id)
    return [
        seq,
        events,
        channel,
        *_board_keys(session_id),
        _key(session_id, "streaks"),
        _key(session_id, f"streak:{member}"),
    ]


def _send_args(send_id, user_id: int, sender: str, gift: GiftInfo, count: int, coins: int):
    """The arguments scripts.SEND and RESERVE_AND_SEND publish a send with, in their order."""
    return [
        settings.LIVE_REPLAY_WINDOW,
        send_id,
        user_id,
        sender,
        gift.json,
        count,
        coins,
        1 if gift.comboable else 0,
        int(settings.LIVE_GIFT_COMBO_SECONDS * 1000),
        int(settings.LIVE_GIFT_COMBO_UPDATE_SECONDS * 1000),
        settings.LIVE_GIFT_TOP,
        f"{user_id}:{gift.id}",
        KEY_TTL,
        settings.LIVE_GIFT_ROOM_UPDATES,
    ]


def _dumps(data) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class GiftInfo:
    id: int
    name: str
    coins: int
    comboable: bool
    json: str  # what the room's events say about it


def gift_card(gift) -> dict:
    """A gift as the room shows it (events, the drawer)."""
    return {
        "id": gift.pk,
        "name": gift.name,
        "coins": gift.coins,
        "image": gift.image.url if gift.image else "",
        "animation": gift.animation.url if gift.animation else "",
        "big": gift.coins >= settings.LIVE_GIFT_BIG_COINS,
        "combo": gift.is_comboable,
    }


def load_catalogue() -> dict[int, GiftInfo]:
    from gifts.models import Gift

    return {
        gift.pk: GiftInfo(
            gift.pk, gift.name, gift.coins, gift.is_comboable, _dumps(gift_card(gift))
        )
        for gift in Gift.objects.filter(is_active=True)
    }


def sender_data(user) -> dict:
    return {"handle": user.handle, "name": user.name}


# -- what runs in the gift threads ---------------------------------------------------------------

_hosts: dict[int, tuple[float, Any]] = {}
_hosts_lock = threading.Lock()


def _host(user_model, host_id: int):
    """The host as send_gift needs them (id and birth date), cached a little per process."""
    now = time.monotonic()
    with _hosts_lock:
        cached = _hosts.get(host_id)
    if cached is not None and now - cached[0] < CATALOGUE_SECONDS:
        return cached[1]
    host = user_model._default_manager.only("pk", "birth_date", "is_creator", "is_active").get(
        pk=host_id
    )
    with _hosts_lock:
        if len(_hosts) > 10_000:
            _hosts.clear()
        _hosts[host_id] = (now, host)
    return host


def debit(*, sender, host_id: int, gift_id: int, count: int, client_token: str, session_id: int):
    """The database part of a room send: (send id, coins, new balance)."""
    from gifts.sending.services import send_gift
    from gifts.wallet import wallet_balance

    if sender.birth_date is None:  # added in the settings since the socket connected?
        sender.refresh_from_db(fields=["birth_date"])
    send = send_gift(
        sender=sender,
        host=_host(type(sender), host_id),
        gift=gift_id,
        count=count,
        client_token=client_token,
        session_id=session_id,
    )
    return send.pk, send.coins_total, wallet_balance(sender)


def _with_db(fn, kwargs):
    from django.db import close_old_connections

    close_old_connections()
    try:
        return fn(**kwargs)
    finally:
        close_old_connections()


# -- parsing ---------------------------------------------------------------------------------------


def parse_send(payload: dict) -> tuple[int, int, str]:
    """(gift id, count, client token) from a `gift.send` frame, or a clear error."""
    gift_id = payload.get("gift")
    if isinstance(gift_id, bool) or not isinstance(gift_id, int) or gift_id <= 0:
        raise GiftUnavailable("Choose a gift from the drawer (gift is a gift's id).")
    count = payload.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= SEND_MAX_COUNT:
        raise InvalidGiftCount(f"Send between 1 and {SEND_MAX_COUNT} of a gift at a time.")
    token = payload.get("client_token")
    if not isinstance(token, str) or not CLIENT_TOKEN_RE.match(token):
        raise InvalidClientToken()
    return gift_id, count, token


# -- the room side ---------------------------------------------------------------------------------


class GiftRoom:
    """One per hub (process and event loop)."""

    def __init__(self, hub: Hub):
        self.hub = hub
        self.loop = hub.loop
        self._executor = ThreadPoolExecutor(
            max_workers=settings.LIVE_GIFT_THREADS, thread_name_prefix="live-gifts"
        )
        self._waiting = 0
        self._catalogue: dict[int, GiftInfo] = {}
        self._catalogue_at = -CATALOGUE_SECONDS
        self._catalogue_task: asyncio.Task | None = None
        self._unknown: dict[int, float] = {}  # gift id -> when a reload did not find it
        self._boards: dict[int, tuple[int, str]] = {}  # session -> (version, board JSON)
        self._board_tasks: dict[int, asyncio.Task] = {}
        self.hello_version: dict[int, int] = {}  # the board version in each room's cached hello
        self._sweeper: asyncio.Task | None = None
        self._active: dict[int, float] = {}  # session -> when it last saw a gift
        self._scripts: dict[str, Any] = {}
        self._client: Any = None
        self._memory_lock = threading.Lock()
        self._send_batcher: Any = None
        self._priming: dict[int, asyncio.Future] = {}  # senders being primed now
        self._primes_queued: dict[int, asyncio.Future] = {}  # and those for the next round
        self._primer: asyncio.Task | None = None
        self._host_loads: dict[int, asyncio.Task] = {}
        self._waiters: dict[str, list[asyncio.Future]] = {}  # "<sender>:<token>" -> its sends
        self._listener: asyncio.Task | None = None
        self._subscribed = asyncio.Event()

    # -- Redis ------------------------------------------------------------------------------

    def _script(self, name: str):
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = self._redis().register_script(getattr(scripts, name))
        return script

    @property
    def _sends(self):
        """RESERVE_AND_SEND calls, sent together while one is in flight (shopfeed.redis_batch)."""
        if self._send_batcher is None:
            from shopfeed.redis_batch import ScriptBatcher

            self._send_batcher = ScriptBatcher(self._redis(), self._script("RESERVE_AND_SEND"))
        return self._send_batcher

    def _redis(self):
        # A pool of its own: a gift storm must not take the connections chat, presence and
        # resumes wait for (the hub's pool), nor wait for theirs. Measured: 200 senders at a
        # busy moment emptied the hub's 32 and sends failed after its 20 s wait.
        if self._client is None:
            import redis.asyncio as aioredis

            from live.room.bus import redis_options

            pool = aioredis.BlockingConnectionPool.from_url(
                self.hub.redis_url, max_connections=64, timeout=5, **redis_options()
            )
            self._client = aioredis.Redis(connection_pool=pool)
        return self._client

    # -- the catalogue --------------------------------------------------------------------------

    async def gift(self, gift_id: int) -> GiftInfo:
        """A gift of the catalogue. An id this process does not know makes it reload (a gift
        added a moment ago), once per id every few seconds (senders are rate-limited first)."""
        now = time.monotonic()
        stale = now - self._catalogue_at > CATALOGUE_SECONDS
        unknown = gift_id not in self._catalogue and now - self._unknown.get(gift_id, -9.0) > 2
        if stale or unknown:
            if self._catalogue_task is None:
                self._catalogue_task = self.loop.create_task(self._load_catalogue())
            await asyncio.shield(self._catalogue_task)
        info = self._catalogue.get(gift_id)
        if info is None:
            if len(self._unknown) > 10_000:
                self._unknown.clear()
            self._unknown[gift_id] = time.monotonic()
            raise GiftUnavailable("That gift is not available.")
        return info

    async def _load_catalogue(self) -> None:
        try:
            self._catalogue = await self.loop.run_in_executor(
                self._executor, _with_db, lambda: load_catalogue(), {}
            )
            self._catalogue_at = time.monotonic()
        finally:
            self._catalogue_task = None

    # -- sending ----------------------------------------------------------------------------------

    async def send(self, ctx: RoomContext, payload: dict) -> dict:
        gift_id, count, token = parse_send(payload)
        user = ctx.user
        state = await self.hub.upkeep.admission_state(ctx.session_id)
        if state is None:
            raise NotFound("This live does not exist.")
        if state.status != LiveSession.Status.LIVE:
            raise ShopFeedError("Gifts can be sent while the host is live.", code="not_live")
        if user.pk == state.host_id:
            raise SelfGift("You cannot send a gift to yourself.")
        if state.restriction(user.handle, "ban")[0]:
            raise NotAllowed("You are banned from this host's lives.", code="banned")
        if self.fast:
            gift = await self.gift(gift_id)
            reply = await self._send_fast(ctx.session_id, user, state.host_id, gift, count, token)
            self.refresh_level(ctx, state.host_id)
            return reply
        await self._take_token(ctx.session_id, user.pk)
        gift = await self.gift(gift_id)
        if self._waiting >= settings.LIVE_GIFT_QUEUE:
            raise Busy("The room is very busy; send your gift again in a moment.")
        self._waiting += 1
        try:
            send_id, coins, balance = await self.loop.run_in_executor(
                self._executor,
                _with_db,
                debit,
                {
                    "sender": user,
                    "host_id": state.host_id,
                    "gift_id": gift_id,
                    "count": count,
                    "client_token": token,
                    "session_id": ctx.session_id,
                },
            )
        finally:
            self._waiting -= 1
        try:
            await self._publish(ctx.session_id, user, gift, send_id, count, coins)
        except (RedisError, TimeoutError):
            # The coins moved (committed): acknowledge it, and publish it a moment later (the
            # per-send marker makes a late or repeated publish show it once).
            logger.warning("live gifts: send %s committed, its event retried later", send_id)
            self.loop.create_task(
                self._publish_later(ctx.session_id, user, gift, send_id, count, coins)
            )
        self.refresh_level(ctx, state.host_id)
        return {
            "send": send_id,
            "client_token": token,
            "gift": gift_id,
            "count": count,
            "coins": coins,
            "balance": balance,
        }

    # -- sending with Redis (DESIGN.md 5a): one script, the writer's commit, the ack -----------

    @property
    def fast(self) -> bool:
        """Sends take the Redis path when gifts' Redis is the room's (one script spans both)."""
        return bool(self.hub.redis_url) and self.hub.redis_url == settings.GIFTS_REDIS_URL

    async def _send_fast(self, session_id: int, user, host_id: int, gift: GiftInfo, count, token):
        """Reserve, publish and wait for the commit: the ack means the send is in PostgreSQL."""
        coins = gift.coins * count
        await self._listening()
        key = f"{user.pk}:{token}"
        waiter = self._wait_for(key)  # before the script: its outcome cannot come first
        try:
            uid, balance, outcome = await self._reserve(
                session_id, user, host_id, gift, count, token
            )
            if outcome is None:
                outcome = await self._outcome(key, waiter, user.pk, token)
        finally:
            self._forget_wait(key, waiter)
        if outcome != gift_store.WRITTEN:
            raise _refused(outcome, coins=coins, balance=balance)
        self._active[session_id] = time.monotonic()
        self.start_sweeper()
        return {"send": uid, "client_token": token, "gift": gift.id, "count": count,
                "coins": coins, "balance": balance}  # fmt: skip

    async def _reserve(self, session_id, user, host_id, gift: GiftInfo, count, token):
        """(send uid, balance after it, outcome if already known) from the one script; primes
        the sender's mirror or the host's facts from PostgreSQL when it asks (rarely)."""
        from gifts.sending import mirror

        coins = gift.coins * count
        rate, window = settings.LIVE_GIFT_RATE, settings.LIVE_GIFT_RATE_WINDOW
        today = timezone.localdate()
        sig = gift_store.signature(
            host_id=host_id, gift_id=gift.id, count=count, session_id=session_id
        )
        keys = [
            *_send_keys(session_id, f"{user.pk}:{gift.id}"),
            _key(session_id, f"rate:{user.pk}"),
            gift_store.mirror_key(user.pk),
            gift_store.token_key(user.pk, token),
            gift_store.host_key(host_id),
            gift_store.stream_key(),
        ]
        sender = _dumps(sender_data(user))
        for _ in range(4):
            uid = uuid.uuid4().hex
            body = gift_store.payload(
                uid=uid, sender_id=user.pk, host_id=host_id, gift_id=gift.id, count=count,
                coins=coins, session_id=session_id, client_token=token,
                sent_ms=int(time.time() * 1000),
            )  # fmt: skip
            args = [
                *_send_args(uid, user.pk, sender, gift, count, coins),
                repr(rate / (window * 1000)), rate, mirror.today_number(today),
                today.isoformat(), sig, settings.GIFTS_TOKEN_SECONDS,
                settings.GIFTS_MIRROR_SECONDS * 1000, body,
            ]  # fmt: skip
            try:
                reply = await self._sends(keys=keys, args=args)
            except (RedisError, TimeoutError):
                logger.warning("live gifts: the send script failed; sender told to retry")
                raise Busy("The room is very busy; send your gift again in a moment.") from None
            code = reply[0].decode()
            if code == "ok":
                return uid, int(reply[1]), None
            if code == "again":
                if not int(reply[4]):
                    raise ClientTokenReused()
                state = reply[1].decode()
                return reply[2].decode(), int(reply[3]), (None if state == "p" else state)
            if code == "prime":
                await self._prime(user.pk)
            elif code == "host":
                await self._load_host(host_id)
            elif code == "rate":
                wait = max(1, -(-int(reply[1]) // 1000))
                raise RateLimited(
                    f"Slow down: at most {rate} gifts every {window:g} seconds. "
                    f"Try again in {wait} s."
                )
            else:
                raise _refused(code, coins=coins, balance=int(reply[1]),
                               cap=int(reply[2]) if len(reply) > 2 else 0)  # fmt: skip
        raise Busy("The room is very busy; send your gift again in a moment.")

    async def _prime(self, user_id: int) -> None:
        """Have the user's mirror primed from PostgreSQL: senders asking at the same time are
        primed together (a storm's first sends: one transaction for all, not one each)."""
        waiting = self._priming.get(user_id) or self._primes_queued.get(user_id)
        if waiting is None:
            waiting = self._primes_queued[user_id] = self.loop.create_future()
            if self._primer is None:
                self._primer = self.loop.create_task(self._prime_queued())
        try:
            await asyncio.shield(waiting)
        except Exception:
            logger.warning("live gifts: priming sender %s failed", user_id, exc_info=True)
            raise Busy("The room is very busy; send your gift again in a moment.") from None

    async def _load_host(self, host_id: int) -> None:
        """The host's facts cached in Redis, read once however many sends ask at once."""
        from gifts.sending import mirror

        task = self._host_loads.get(host_id)
        if task is None:
            task = self._host_loads[host_id] = self.loop.create_task(
                self._in_thread(mirror.host_facts, host_id)
            )
            task.add_done_callback(lambda _: self._host_loads.pop(host_id, None))
        try:
            await asyncio.shield(task)
        except Exception:
            logger.warning("live gifts: loading host %s failed", host_id, exc_info=True)
            raise Busy("The room is very busy; send your gift again in a moment.") from None

    async def _prime_queued(self) -> None:
        from gifts.sending import mirror

        try:
            while self._primes_queued:
                self._priming, self._primes_queued = self._primes_queued, {}
                try:
                    await self._in_thread(mirror.prime_senders, user_ids=list(self._priming))
                except Exception as exc:  # noqa: BLE001 - each waiting send hears it
                    for waiting in self._priming.values():
                        waiting.set_exception(exc)
                        waiting.exception()  # retrieved: no "never retrieved" noise
                else:
                    for waiting in self._priming.values():
                        waiting.set_result(None)
                self._priming = {}
        finally:
            self._primer = None

    async def _in_thread(self, fn, *args, **kwargs):
        return await self.loop.run_in_executor(
            self._executor, _with_db, lambda: fn(*args, **kwargs), {}
        )

    async def _outcome(self, key: str, waiter: asyncio.Future, user_id: int, token: str) -> str:
        """The writer's outcome for this send: from its message, or read from the token's state
        (a message lost with a dropped subscription), up to GIFTS_ACK_WAIT_SECONDS."""
        deadline = self.loop.time() + settings.GIFTS_ACK_WAIT_SECONDS
        while True:
            left = deadline - self.loop.time()
            if left <= 0:
                raise GiftQueued(
                    "Your gift is on its way and will show in your wallet history in a moment; "
                    "sending it again with the same token will not charge you twice."
                )
            if waiter.done():  # resolved, or cancelled by the timeout below: wait anew
                if not waiter.cancelled():
                    return waiter.result()
                waiter = self._wait_for(key)
                self.loop.call_later(
                    min(left, 3.0) + 1, self._forget_wait, key, waiter
                )  # after its turn below, whatever happened
            try:
                # A timer, not a task: a storm's thousand waits cost the loop nothing extra.
                async with asyncio.timeout(min(left, 3.0)):
                    return await waiter
            except TimeoutError:
                pass
            try:
                state = await self._redis().hget(gift_store.token_key(user_id, token), "st")
            except (RedisError, TimeoutError):
                state = b"p"
            if state is None:  # Redis lost it before the writer wrote it: never committed
                raise Busy("Your gift could not be sent; send it again.")
            if state.decode() != gift_store.PENDING:
                return state.decode()

    def _wait_for(self, key: str) -> asyncio.Future:
        waiter = self.loop.create_future()
        self._waiters.setdefault(key, []).append(waiter)
        return waiter

    def _forget_wait(self, key: str, waiter: asyncio.Future) -> None:
        waiting = self._waiters.get(key)
        if waiting is not None:
            with contextlib.suppress(ValueError):
                waiting.remove(waiter)
            if not waiting:
                del self._waiters[key]

    async def _listening(self) -> None:
        """Subscribed to the writer's outcomes before any send is reserved."""
        if self._subscribed.is_set() and self._listener is not None and not self._listener.done():
            return  # the usual case: no await, no pass of the loop
        if self._listener is None or self._listener.done():
            self._subscribed = asyncio.Event()
            self._listener = self.loop.create_task(self._listen())
        try:
            await asyncio.wait_for(self._subscribed.wait(), 5)
        except TimeoutError:
            raise Busy("The room is very busy; send your gift again in a moment.") from None

    async def _listen(self) -> None:
        while True:
            pubsub = self._redis().pubsub()
            try:
                await pubsub.subscribe(gift_store.done_channel(self.hub.redis_url))
                while True:
                    msg = await pubsub.get_message(timeout=30)
                    if msg is None:
                        continue
                    if msg["type"] == "subscribe":
                        self._subscribed.set()
                    elif msg["type"] == "message":
                        self._resolve(msg["data"].decode())
            except asyncio.CancelledError:
                raise
            except Exception:  # waiters read the token's state meanwhile
                logger.warning(
                    "live gifts: outcome subscription lost; resubscribing", exc_info=True
                )
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _resolve(self, data: str) -> None:
        for item in data.split(";"):
            user_id, token, state = item.split(":", 2)
            for waiter in self._waiters.pop(f"{user_id}:{token}", ()):
                if not waiter.done():
                    waiter.set_result(state)

    async def _publish_later(self, *args) -> None:
        for delay in (0.5, 2, 5, 15):
            await asyncio.sleep(delay)
            try:
                await self._publish(*args)
                return
            except (RedisError, TimeoutError) as exc:
                logger.warning("live gifts: publishing send %s failed again: %s", args[3], exc)
        logger.error("live gifts: the event of send %s was never published", args[3])

    async def _take_token(self, session_id: int, user_id: int) -> None:
        rate, window = settings.LIVE_GIFT_RATE, settings.LIVE_GIFT_RATE_WINDOW
        if not self.hub.redis_url:
            return  # one process: the database's own per-user order is the only limit
        try:
            wait_ms = await self._script("RATE")(
                keys=[_key(session_id, f"rate:{user_id}")],
                args=[repr(rate / (window * 1000)), rate],
            )
        except (RedisError, TimeoutError):
            logger.warning("live gifts: the rate limit could not be read; sender told to retry")
            raise Busy("The room is very busy; send your gift again in a moment.") from None
        if int(wait_ms):
            wait = max(1, -(-int(wait_ms) // 1000))
            raise RateLimited(
                f"Slow down: at most {rate} gifts every {window:g} seconds. Try again in {wait} s."
            )

    async def _publish(self, session_id, user, gift: GiftInfo, send_id, count, coins) -> None:
        sender = _dumps(sender_data(user))
        if not self.hub.redis_url:
            self._memory_publish(session_id, user, sender, gift, send_id, count, coins)
            return
        member = f"{user.pk}:{gift.id}"
        await self._script("SEND")(
            keys=[*_send_keys(session_id, member), _key(session_id, f"sent:{send_id}")],
            args=_send_args(send_id, user.pk, sender, gift, count, coins),
        )
        self._active[session_id] = time.monotonic()
        self.start_sweeper()

    # -- supporter levels ---------------------------------------------------------------------

    def refresh_level(self, ctx: RoomContext, host_id: int) -> None:
        """Have the viewer's supporter level (shown beside their chat name if they allow it)
        loaded in the background: never awaited on the chat or gift path, and at most every
        LEVEL_SECONDS per socket (not per send: the gift threads are for debits)."""
        user = ctx.user
        if not getattr(user, "is_authenticated", False):
            return
        loaded_at = getattr(user, "_supporter_level_at", None)
        now = time.monotonic()
        if loaded_at is not None and now - loaded_at < LEVEL_SECONDS:
            return
        user._supporter_level_at = now
        self.loop.create_task(self._load_level(user, host_id))

    async def _load_level(self, user, host_id: int) -> None:
        from .selectors import supporter_level

        try:
            user.supporter_level = await self.loop.run_in_executor(
                self._executor, _with_db, supporter_level, {"user_id": user.pk, "host_id": host_id}
            )
        except Exception:  # a level shown a little later is no harm
            logger.exception("live gifts: could not load a supporter level")

    # -- streaks ----------------------------------------------------------------------------------

    def start_sweeper(self) -> None:
        if self._sweeper is None and self.hub.redis_url:
            self._sweeper = self.loop.create_task(self._sweep_forever())

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            try:
                # Rooms this process serves that saw a gift lately (its own sends, or any
                # process's through the room's events): an open streak ends within the window.
                now = time.monotonic()
                for session_id, seen in list(self._active.items()):
                    if now - seen > ACTIVE_FOR or session_id not in self.hub.rooms:
                        del self._active[session_id]
                    else:
                        await self.sweep(session_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # the next sweep tries again; delivery goes on
                logger.exception("live gifts: streak sweep failed")

    async def sweep(self, session_id: int) -> int:
        seq, events, channel = bus_keys(session_id)
        return int(
            await self._script("SWEEP")(
                keys=[seq, events, channel, *_board_keys(session_id), _key(session_id, "streaks")],
                args=[
                    settings.LIVE_REPLAY_WINDOW,
                    int(settings.LIVE_GIFT_COMBO_SECONDS * 1000),
                    int(settings.LIVE_GIFT_COMBO_UPDATE_SECONDS * 1000),
                    settings.LIVE_GIFT_TOP,
                    _key(session_id, "streak:"),
                    settings.LIVE_GIFT_ROOM_UPDATES,
                ],
            )
        )

    # -- the board (top gifters, goal) for hellos -------------------------------------------------

    async def board(self, session_id: int) -> str:
        """The board as JSON text, as of at least every event this process handed out."""
        cached = self._boards.get(session_id)
        if cached is not None:
            return cached[1]
        task = self._board_tasks.get(session_id)
        if task is None:
            task = self._board_tasks[session_id] = self.loop.create_task(
                self._load_board(session_id)
            )
        try:
            return await asyncio.shield(task)
        except Exception:  # a hello without the board beats no hello; gift events bring it
            logger.exception("live gifts: could not read the board of session %s", session_id)
            return "null"

    async def _load_board(self, session_id: int) -> str:
        try:
            if self.hub.redis_url:
                text = await self._script("BOARD")(
                    keys=_board_keys(session_id), args=[settings.LIVE_GIFT_TOP]
                )
                text = text.decode()
            else:
                text = _dumps(_memory_board(session_id))
            version = json.loads(text)["v"]
            self._note(session_id, version, text)
            return self._boards[session_id][1]
        finally:
            self._board_tasks.pop(session_id, None)

    def _note(self, session_id: int, version: int, text: str) -> None:
        cached = self._boards.get(session_id)
        if cached is None or version > cached[0]:
            self._boards[session_id] = (version, text)

    def on_events(self, session_id: int, events: list[Event]) -> None:
        """Keep this process's copy of the board current from the room's gift events (they
        carry it whole); called by the room's upkeep for every event."""
        for ev in events:
            if not ev.text.startswith('{"type":"gift'):
                continue
            self._active[session_id] = time.monotonic()
            self.start_sweeper()
            data = json.loads(ev.text)["data"]
            if "v" in data:
                board = {"top": data["top"], "goal": data["goal"], "v": data["v"]}
                self._note(session_id, data["v"], _dumps(board))

    def board_version(self, session_id: int) -> int:
        cached = self._boards.get(session_id)
        return cached[0] if cached else -1

    def forget(self, session_id: int) -> None:
        self._boards.pop(session_id, None)

    # -- no Redis ---------------------------------------------------------------------------

    def _memory_publish(self, session_id, user, sender, gift, send_id, count, coins) -> None:
        with self._memory_lock:
            board = _MEMORY_BOARDS.setdefault(session_id, {"top": {}, "goal": None, "v": 0})
            if send_id in board.setdefault("sent", set()):
                return
            board["sent"].add(send_id)
            entry = board["top"].setdefault(user.pk, {"user": sender_data(user), "coins": 0})
            entry["coins"] += coins
            if board["goal"] is not None:
                board["goal"]["progress"] += coins
            board["v"] += 1
            streak = board["streak"] = board.get("streak", 0) + 1
        data = {
            "streak": streak,
            "sender": sender_data(user),
            "gift": json.loads(gift.json),
            "count": count,
            "coins": coins,
            "send": send_id,
            "combo": False,
            "final": True,
            **_memory_board(session_id),
        }
        get_bus().publish(session_id, "gift", data)


_MEMORY_BOARDS: dict[int, dict] = {}


def _memory_board(session_id: int) -> dict:
    board = _MEMORY_BOARDS.get(session_id) or {"top": {}, "goal": None, "v": 0}
    top = sorted(board["top"].values(), key=lambda e: -e["coins"])[: settings.LIVE_GIFT_TOP]
    return {"top": top, "goal": board["goal"] and dict(board["goal"]), "v": board["v"]}


def publish_goal(session_id: int, target: int | None, title: str) -> None:
    """Tell the room its goal (None: cleared); progress starts again from 0. Sync (on commit)."""
    bus = get_bus()
    if not settings.REDIS_URL:
        board = _MEMORY_BOARDS.setdefault(session_id, {"top": {}, "goal": None, "v": 0})
        board["goal"] = target and {"target": target, "progress": 0, "title": title}
        board["v"] += 1
        bus.publish(session_id, "gift.goal", _memory_board(session_id))
        return
    seq, events, channel = bus_keys(session_id)
    script = bus.client.register_script(scripts.GOAL)  # type: ignore[union-attr]
    script(
        keys=[seq, events, channel, *_board_keys(session_id)],
        args=[
            settings.LIVE_REPLAY_WINDOW,
            target or 0,
            _dumps(title),
            settings.LIVE_GIFT_TOP,
            KEY_TTL,
        ],
    )


def board_now(session_id: int) -> dict:
    """The board read synchronously (the live page's first render)."""
    if not settings.REDIS_URL:
        return _memory_board(session_id)
    bus = get_bus()
    script = bus.client.register_script(scripts.BOARD)  # type: ignore[union-attr]
    return json.loads(script(keys=_board_keys(session_id), args=[settings.LIVE_GIFT_TOP]))


_rooms: dict[int, GiftRoom] = {}


def gift_room(hub: Hub) -> GiftRoom:
    """The hub's gift room (one per hub, made on first use)."""
    room = _rooms.get(id(hub))
    if room is None or room.hub is not hub:
        _rooms.clear()  # a new hub (a new event loop: tests) replaces the old one
        room = _rooms[id(hub)] = GiftRoom(hub)
    return room
