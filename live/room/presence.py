"""Who is watching, counted in Redis (DESIGN.md section 5: "no database write per viewer on
join (counts and presence in Redis, persisted in batches)").

- Sockets on air: each process writes its own count of a session's sockets into one hash
  (`{live:<id>}:viewers`, field = the process's token, value = "count:expires") at every
  heartbeat (the hub's one-second tick). The room's count is the sum over fields that have not
  expired, so the viewers of a process that died without a word (SIGKILL, a lost machine) age
  out after LIVE_PRESENCE_TTL_SECONDS. A process whose last socket left removes its field.
- Distinct viewers: a HyperLogLog per session (`{live:<id>}:distinct`), fed in batches (one
  PFADD for every viewer who arrived in the last fraction of a second).
- Peak: kept by the script that sums the count (`{live:<id>}:peak`).
- The session row (`total_viewers`, `peak_viewers`) is brought up to date from these every
  LIVE_VIEWERS_PERSIST_SECONDS by one process at a time: one UPDATE per session, not one per
  viewer.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from django.conf import settings

logger = logging.getLogger(__name__)

SEEN_FLUSH_EVERY = 0.2  # seconds between PFADD batches

# KEYS: viewers hash, tick lock, last published count, peak.
# ARGV: process token, its count, its TTL (ms), the tick period (ms).
# Returns {total, peak}; total is -1 when another process ticked this period or nothing changed.
TICK_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. (now + tonumber(ARGV[3])))
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], 600000)
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[4]) then
  return {-1, 0}
end
local total = 0
local rows = redis.call('HGETALL', KEYS[1])
for i = 1, #rows, 2 do
  local count, expires = string.match(rows[i + 1], '^(%d+):(%d+)$')
  if count == nil or tonumber(expires) < now then
    redis.call('HDEL', KEYS[1], rows[i])
  else
    total = total + tonumber(count)
  end
end
local peak = tonumber(redis.call('GET', KEYS[4]) or '0')
if total > peak then
  peak = total
  redis.call('SET', KEYS[4], peak, 'EX', 86400 * 7)
end
if redis.call('GET', KEYS[3]) == tostring(total) then
  return {-1, peak}
end
redis.call('SET', KEYS[3], total, 'EX', 86400)
return {total, peak}
"""


def keys(session_id: int) -> dict[str, str]:
    tag = f"{{live:{session_id}}}"
    return {
        "viewers": f"{tag}:viewers",
        "tick": f"{tag}:viewers-tick",
        "last": f"{tag}:viewers-last",
        "peak": f"{tag}:peak",
        "distinct": f"{tag}:distinct",
        "persist": f"{tag}:viewers-persist",
    }


def ttl_ms() -> int:
    return int(settings.LIVE_PRESENCE_TTL_SECONDS * 1000)


class Presence:
    """One per hub (process); talks to Redis on the event loop, never through a thread."""

    def __init__(self, redis_client, token: str, every: float):
        self.redis = redis_client
        self.token = token
        self.every = every
        self._tick = redis_client.register_script(TICK_LUA)
        self._seen: dict[int, list[str]] = defaultdict(list)
        self._seen_flush: asyncio.TimerHandle | None = None

    def seen(self, session_id: int, viewer_key: str) -> None:
        """Count a viewer among the session's distinct viewers (in the next batch)."""
        self._seen[session_id].append(viewer_key)
        if self._seen_flush is None:
            loop = asyncio.get_running_loop()
            self._seen_flush = loop.call_later(
                SEEN_FLUSH_EVERY, lambda: loop.create_task(self.flush_seen())
            )

    async def flush_seen(self) -> None:
        self._seen_flush = None
        batch, self._seen = self._seen, defaultdict(list)
        if not batch:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for session_id, viewer_keys in batch.items():
                    name = keys(session_id)["distinct"]
                    pipe.pfadd(name, *viewer_keys)
                    pipe.expire(name, 86400 * 7)
                await pipe.execute()
        except Exception:  # a count, not a delivery: log and go on
            logger.exception("live presence: could not record %d viewers", len(batch))

    async def tick(self, session_id: int, count: int) -> tuple[int, int]:
        """Write this process's count; (the room's total or -1, the peak)."""
        k = keys(session_id)
        total, peak = await self._tick(
            keys=[k["viewers"], k["tick"], k["last"], k["peak"]],
            args=[self.token, count, ttl_ms(), int(self.every * 1000)],
        )
        return int(total), int(peak)

    async def persist_due(self, session_id: int) -> bool:
        """Whether this process writes the session's counts to its row now (one at a time)."""
        period = int(settings.LIVE_VIEWERS_PERSIST_SECONDS * 1000)
        return bool(await self.redis.set(keys(session_id)["persist"], "1", nx=True, px=period))


def persist_viewer_counts(session_id: int) -> None:
    """Bring the session row's distinct and peak viewers up to Redis's (never down)."""
    from django.db.models import F
    from django.db.models.functions import Greatest

    from live.models import LiveSession

    from .bus import get_bus

    k = keys(session_id)
    client = get_bus().client
    pipe = client.pipeline(transaction=False)
    pipe.pfcount(k["distinct"])
    pipe.get(k["peak"])
    distinct, peak = pipe.execute()
    LiveSession.objects.filter(pk=session_id).update(
        total_viewers=Greatest(F("total_viewers"), int(distinct or 0)),
        peak_viewers=Greatest(F("peak_viewers"), int(peak or 0)),
    )


def distinct_viewers(session_id: int) -> int:
    from .bus import get_bus

    return int(get_bus().client.pfcount(keys(session_id)["distinct"]))
