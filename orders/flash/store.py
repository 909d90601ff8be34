"""The flash sale's Redis side (DESIGN.md section 4): every change is one Lua script.

Keys (one Redis database; the scripts name keys they derive from ids, so this wants a single
Redis server, not a cluster):

- `flash:stock:<variant>`   units a buyer may still reserve: PostgreSQL's stock less the units
                            reserved here and not yet written (the writer's batches)
- `flash:gen:<variant>`     a token changed by every priming; a late give-back from before it
                            is dropped (the priming read PostgreSQL after that unit came back)
- `flash:buyers:<variant>`  hash buyer id -> units held (the per-buyer limit)
- `flash:deal:<deal>`       hash `left` (deal units), `ends_ms` (0 once ended)
- `flash:dbuyers:<deal>`    hash buyer id -> deal units held
- `flash:pending`           hash reservation id -> "variant:quantity:deal:buyer", until written
- `flash:stream`            the reservations for the writer (consumer group `writers`)
- `flash:done:<id>`         a short-lived list the writer pushes the outcome to

A key that is missing (a Redis restart, a flush) is primed again from PostgreSQL, under the
row lock the writer also takes, before anything is reserved against it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from django.conf import settings

GROUP = "writers"

_RESERVE = """
local qty = tonumber(ARGV[1])
local stock = redis.call('GET', KEYS[1])
if not stock then return {-1, 0} end
stock = tonumber(stock)
local counts = KEYS[2]
if KEYS[5] ~= '' then
  local d = redis.call('HMGET', KEYS[5], 'left', 'ends_ms')
  if not d[1] then return {-2, 0} end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if now >= tonumber(d[2]) then return {-3, 0} end
  if tonumber(d[1]) < qty then return {0, tonumber(d[1])} end
  counts = KEYS[6]
end
if stock < qty then return {0, stock} end
local held = tonumber(redis.call('HGET', counts, ARGV[3]) or '0')
if held + qty > tonumber(ARGV[2]) then return {-4, held} end
redis.call('DECRBY', KEYS[1], qty)
if KEYS[5] ~= '' then redis.call('HINCRBY', KEYS[5], 'left', -qty) end
redis.call('HINCRBY', counts, ARGV[3], qty)
redis.call('HSET', KEYS[3], ARGV[4], ARGV[6])
redis.call('XADD', KEYS[4], '*', 'r', ARGV[5])
return {1, stock - qty}
"""

# Units of `pending` reservations for one variant (field 1) or one deal (field 3).
_PENDING_UNITS = """
local function pending_units(key, field, id)
  local held = 0
  local vals = redis.call('HVALS', key)
  for i = 1, #vals do
    local parts = {}
    for p in string.gmatch(vals[i], '[^:]+') do parts[#parts + 1] = p end
    if parts[field] == id then held = held + tonumber(parts[2]) end
  end
  return held
end
"""

# KEYS: stock, gen, pending, buyers. ARGV: PostgreSQL quantity, variant id, token, force,
# then buyer id, units pairs (to rebuild the per-buyer counts when they were lost).
_PRIME_STOCK = (
    _PENDING_UNITS
    + """
if ARGV[4] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local n = tonumber(ARGV[1]) - pending_units(KEYS[3], 1, ARGV[2])
if n < 0 then n = 0 end
redis.call('SET', KEYS[1], n)
redis.call('SET', KEYS[2], ARGV[3])
if #ARGV > 4 and redis.call('EXISTS', KEYS[4]) == 0 then
  for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1]) end
end
return n
"""
)

# KEYS: deal, pending, deal buyers. ARGV: units left in PostgreSQL, deal id, ends_ms, force,
# then buyer id, units pairs.
_PRIME_DEAL = (
    _PENDING_UNITS
    + """
if ARGV[4] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local n = tonumber(ARGV[1]) - pending_units(KEYS[2], 3, ARGV[2])
if n < 0 then n = 0 end
redis.call('HSET', KEYS[1], 'left', n, 'ends_ms', ARGV[3])
if #ARGV > 4 and redis.call('EXISTS', KEYS[3]) == 0 then
  for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
end
return n
"""
)

# The writer, holding the PostgreSQL row locks, before it writes a batch. A reservation still
# in `pending` is counted in the stock key (priming subtracts pending units). One that is not
# was reserved before Redis lost its keys: take its units from the current count, or refuse
# it when none are left. With the key itself missing, the next priming reads PostgreSQL after
# this batch commits, so nothing is taken here. KEYS: pending. ARGV: prefix, then a JSON list
# of [id, variant, quantity, deal] per reservation (strings: one argument, not four hundred).
# Returns 1 (write it) or 0 per reservation.
_CONFIRM = """
local out = {}
for _, r in ipairs(cjson.decode(ARGV[2])) do
  local rid, vid, qty, did = r[1], r[2], tonumber(r[3]), r[4]
  if redis.call('HEXISTS', KEYS[1], rid) == 1 then
    out[#out + 1] = 1
  else
    local skey = ARGV[1] .. 'stock:' .. vid
    local dkey = ARGV[1] .. 'deal:' .. did
    local stock = redis.call('GET', skey)
    local left = nil
    if did ~= '0' then left = redis.call('HGET', dkey, 'left') end
    if (stock and tonumber(stock) < qty) or (left and tonumber(left) < qty) then
      out[#out + 1] = 0
    else
      if stock then redis.call('DECRBY', skey, qty) end
      if left then redis.call('HINCRBY', dkey, 'left', -qty) end
      out[#out + 1] = 1
    end
  end
end
return out
"""

# After the batch committed. KEYS: pending, stream. ARGV: prefix, group, ttl, then a JSON list
# of [stream id, reservation id, outcome, variant, deal, buyer, quantity given back] (strings).
_FINISH = """
for _, r in ipairs(cjson.decode(ARGV[4])) do
  local sid, rid, outcome = r[1], r[2], r[3]
  local vid, did, uid, back = r[4], r[5], r[6], tonumber(r[7])
  redis.call('HDEL', KEYS[1], rid)
  redis.call('XACK', KEYS[2], ARGV[2], sid)
  redis.call('XDEL', KEYS[2], sid)
  if back > 0 then
    if did ~= '0' then
      redis.call('HINCRBY', ARGV[1] .. 'dbuyers:' .. did, uid, -back)
    else
      redis.call('HINCRBY', ARGV[1] .. 'buyers:' .. vid, uid, -back)
    end
  end
  local done = ARGV[1] .. 'done:' .. rid
  redis.call('RPUSH', done, outcome)
  redis.call('EXPIRE', done, tonumber(ARGV[3]))
end
return 1
"""

# An unpaid checkout gave its units back in PostgreSQL: give them back here too, unless the
# variant was primed since (that priming read PostgreSQL with the units already back).
# KEYS: stock, gen, buyers. ARGV: token seen in the release's transaction, quantity, buyer
# (0: a deal's reservation, whose buyer count is the deal's).
_GIVE_BACK = """
if ARGV[1] == '' or redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('INCRBY', KEYS[1], tonumber(ARGV[2]))
if ARGV[3] ~= '0' then
  local held = tonumber(redis.call('HINCRBY', KEYS[3], ARGV[3], -tonumber(ARGV[2])))
  if held <= 0 then redis.call('HDEL', KEYS[3], ARGV[3]) end
end
return 1
"""

# A deal's units given back by a released checkout, while the deal still runs.
# KEYS: deal, deal buyers. ARGV: quantity, buyer.
_GIVE_BACK_DEAL = """
local ends = redis.call('HGET', KEYS[1], 'ends_ms')
if not ends or tonumber(ends) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'left', tonumber(ARGV[1]))
redis.call('HINCRBY', KEYS[2], ARGV[2], -tonumber(ARGV[1]))
return 1
"""

_CLOSE_DEAL = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'ends_ms', 0)
return 1
"""

# Reply codes of _RESERVE.
RESERVED, SOLD_OUT, NEEDS_STOCK, NEEDS_DEAL, DEAL_ENDED, OVER_LIMIT = 1, 0, -1, -2, -3, -4


@dataclass(frozen=True)
class Entry:
    """One reservation as the writer reads it from the stream."""

    stream_id: str
    rid: str
    variant_id: int
    buyer_id: int
    quantity: int
    deal_id: int  # 0: none
    unit_price_amount: int | None  # the deal price; None: the variant's price when written
    address: dict
    source: str
    source_ref: str
    reserved_ms: int


def prefix() -> str:
    return settings.FLASH_KEY_PREFIX


def k(kind: str, ident: Any = "") -> str:
    return f"{prefix()}{kind}" + (f":{ident}" if ident != "" else "")


@lru_cache(maxsize=4)
def _client(url: str):
    import redis
    from redis.maint_notifications import MaintNotificationsConfig

    # redis-py 8 asks for maintenance notifications on connect, which Redis 7 refuses.
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        max_connections=settings.FLASH_REDIS_MAX_CONNECTIONS,
        maint_notifications_config=MaintNotificationsConfig(enabled=False),
    )


def client():
    return _client(settings.FLASH_REDIS_URL)


class _Scripts:
    def __init__(self, r):
        self.reserve = r.register_script(_RESERVE)
        self.prime_stock = r.register_script(_PRIME_STOCK)
        self.prime_deal = r.register_script(_PRIME_DEAL)
        self.confirm = r.register_script(_CONFIRM)
        self.finish = r.register_script(_FINISH)
        self.give_back = r.register_script(_GIVE_BACK)
        self.give_back_deal = r.register_script(_GIVE_BACK_DEAL)
        self.close_deal = r.register_script(_CLOSE_DEAL)


@lru_cache(maxsize=4)
def _scripts_for(url: str) -> _Scripts:
    return _Scripts(_client(url))


def scripts() -> _Scripts:
    return _scripts_for(settings.FLASH_REDIS_URL)


# --- the buyer's side ------------------------------------------------------------------------


def reserve(
    *,
    rid: str,
    variant_id: int,
    buyer_id: int,
    quantity: int,
    limit: int,
    deal_id: int,
    payload: dict,
) -> tuple[int, int]:
    keys = [
        k("stock", variant_id),
        k("buyers", variant_id),
        k("pending"),
        k("stream"),
        k("deal", deal_id) if deal_id else "",
        k("dbuyers", deal_id) if deal_id else "",
    ]
    body = json.dumps(payload, separators=(",", ":"))
    pending = f"{variant_id}:{quantity}:{deal_id}:{buyer_id}"
    code, n = scripts().reserve(
        keys=keys, args=[quantity, limit, buyer_id, rid, body, pending], client=client()
    )
    return int(code), int(n)


def prime_stock(
    *, variant_id: int, pg_quantity: int, token: str, force: bool, buyers: dict[int, int]
) -> int:
    """Call holding the variant's row lock (the writer's batches take it too)."""
    pairs = [str(x) for item in buyers.items() for x in item]
    return int(
        scripts().prime_stock(
            keys=[k("stock", variant_id), k("gen", variant_id), k("pending"),
                  k("buyers", variant_id)],
            args=[pg_quantity, variant_id, token, "1" if force else "0", *pairs],
            client=client(),
        )
    )  # fmt: skip


def prime_deal(
    *, deal_id: int, pg_left: int, ends_ms: int, force: bool, buyers: dict[int, int]
) -> int:
    """Call holding the deal's row lock (the writer's deal claims take it too)."""
    pairs = [str(x) for item in buyers.items() for x in item]
    return int(
        scripts().prime_deal(
            keys=[k("deal", deal_id), k("pending"), k("dbuyers", deal_id)],
            args=[pg_left, deal_id, ends_ms, "1" if force else "0", *pairs],
            client=client(),
        )
    )


def close_deal(*, deal_id: int) -> None:
    scripts().close_deal(keys=[k("deal", deal_id)], client=client())


def generation(variant_id: int) -> str:
    return cast(str, client().get(k("gen", variant_id)) or "")


def give_back(*, variant_id: int, quantity: int, buyer_id: int, token: str) -> bool:
    return bool(
        scripts().give_back(
            keys=[k("stock", variant_id), k("gen", variant_id), k("buyers", variant_id)],
            args=[token, quantity, buyer_id],
            client=client(),
        )
    )


def give_back_deal(*, deal_id: int, quantity: int, buyer_id: int) -> bool:
    return bool(
        scripts().give_back_deal(
            keys=[k("deal", deal_id), k("dbuyers", deal_id)],
            args=[quantity, buyer_id],
            client=client(),
        )
    )


def pending_owner(rid: str) -> int | None:
    """The buyer of a reservation not yet written, or None when Redis does not hold it."""
    value = client().hget(k("pending"), rid)
    return int(value.rsplit(":", 1)[1]) if value else None


def wait_outcome(rid: str, timeout: float) -> str | None:
    """What the writer made of a reservation ("written", "rejected"), waiting up to `timeout`."""
    got = client().blpop([k("done", rid)], timeout=timeout)
    return got[1] if got else None


# --- the writer's side -----------------------------------------------------------------------


def ensure_group() -> None:
    import redis

    try:
        client().xgroup_create(k("stream"), GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _entries(rows) -> list[Entry]:
    out = []
    for stream_id, fields in rows or ():
        if not fields:  # deleted while pending (XAUTOCLAIM reports those as empty)
            continue
        d = json.loads(fields["r"])
        out.append(
            Entry(
                stream_id=stream_id,
                rid=d["id"],
                variant_id=d["v"],
                buyer_id=d["b"],
                quantity=d["q"],
                deal_id=d.get("d") or 0,
                unit_price_amount=d.get("p"),
                address=d["a"],
                source=d["s"],
                source_ref=d["r"],
                reserved_ms=d["t"],
            )
        )
    return out


def read_batch(*, consumer: str, count: int, block_ms: int, reclaim_idle_ms: int) -> list[Entry]:
    """Entries another writer took and never acknowledged (it died) first, then new ones."""
    import redis

    r = client()
    try:
        _, claimed, _ = r.xautoclaim(
            k("stream"), GROUP, consumer, min_idle_time=reclaim_idle_ms, start_id="0-0",
            count=count,
        )  # fmt: skip
        if claimed:
            return _entries(claimed)
        # BLOCK 0 would wait forever: no block at all then.
        got = r.xreadgroup(GROUP, consumer, {k("stream"): ">"}, count=count, block=block_ms or None)
    except redis.ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        ensure_group()  # Redis lost the group (a restart): what the stream holds is new
        return []
    return _entries(got[0][1]) if got else []


def _json(rows: list[list[Any]]) -> str:
    return json.dumps([[str(x) for x in row] for row in rows], separators=(",", ":"))


def confirm(entries: list[Entry]) -> list[bool]:
    rows = [[e.rid, e.variant_id, e.quantity, e.deal_id] for e in entries]
    out = scripts().confirm(keys=[k("pending")], args=[prefix(), _json(rows)], client=client())
    return [bool(x) for x in out]


def finish(outcomes: list[tuple[Entry, str, int]]) -> None:
    """Acknowledge written entries: (entry, outcome, units the buyer's count gets back)."""
    if not outcomes:
        return
    rows = [
        [e.stream_id, e.rid, outcome, e.variant_id, e.deal_id, e.buyer_id, back]
        for e, outcome, back in outcomes
    ]
    args = [prefix(), GROUP, settings.FLASH_OUTCOME_TTL_SECONDS, _json(rows)]
    scripts().finish(keys=[k("pending"), k("stream")], args=args, client=client())


def backlog() -> int:
    """Reservations not yet written (in the stream, read or not)."""
    return int(client().hlen(k("pending")))
