"""Room gift sends in Redis (DESIGN.md section 5a): a mirror of each sender's wallet that one
Lua script checks and debits, and the stream the batch writer (gifts.sending.writer) turns
into GiftSend rows and ledger postings in PostgreSQL, which stays the record.

Keys (one Redis database, named from ids, so a single Redis server, as orders.flash):

- `<P>w:<user>`          the sender's mirror, a hash:
                         `pg` the wallet balance PostgreSQL had when this was primed, less the
                         sends written since; `pend` coins of sends reserved and not yet
                         written (one `p:<send uid>` field each); spendable = pg - pend;
                         `spent`/`day` coins sent today (pending included); `cap` the daily
                         cap; `frozen`; `adult` (YYYYMMDD of the 18th birthday, 0: no birth
                         date); `at` when primed; `ver`/`fresh` (a change bumps `ver`; the
                         mirror is used only while `fresh == ver`)
- `<P>t:<user>:<token>`  a client token's first answer (hash: sig, st, uid, bal): a resend is
                         a no-op that gets it; `st` is `p` (pending), `w` (written) or
                         `r:<code>` (refused by the writer)
- `<P>h:<host>`          may this user receive gifts: YYYYMMDD of their 18th birthday, 0 never
- `<P>stream`            the sends, for the writer's consumer group `writers`
- channel `<P>done:db<n>` the writer's outcomes, one message a batch, for the senders' acks

A mirror that is missing (a Redis flush or restart), stale (a top-up, refund, dispute,
adjustment, freeze, settings or birth date changed: `invalidate`) or older than
GIFTS_MIRROR_SECONDS is primed again from PostgreSQL under the wallet's row lock, which the
writer also holds while it writes (gifts.sending.mirror.prime).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings

GROUP = "writers"

# Defines gift_reserve(km, kt, kh, ks, a): check and debit the sender's mirror for one send and
# append it to the stream. `a`: uid, coins, today (YYYYMMDD), day, request signature, token
# ttl s, mirror max age ms, now ms, stream payload. Returns {'ok', balance after} or a refusal
# {'prime'|'host'|'host_no'|'frozen'|'birth'|'age'|'coins', n}, {'cap', left, cap} or, for a
# token seen before, {'again', state, uid, balance, same request 1/0}.
RESERVE = """
local function gift_reserve(km, kt, kh, ks, a)
  local prior = redis.call('HMGET', kt, 'sig', 'st', 'uid', 'bal')
  if prior[1] then
    return {'again', prior[2], prior[3], tonumber(prior[4]), prior[1] == a.sig and 1 or 0}
  end
  local m = redis.call('HMGET', km, 'pg', 'pend', 'spent', 'day', 'cap', 'frozen', 'adult',
      'at', 'ver', 'fresh')
  if not m[1] or (m[9] or '0') ~= m[10] or a.now - tonumber(m[8]) > a.max_age then
    return {'prime', 0}
  end
  local host = redis.call('GET', kh)
  if not host then return {'host', 0} end
  if m[6] == '1' then return {'frozen', 0} end
  if tonumber(m[7]) == 0 then return {'birth', 0} end
  if tonumber(m[7]) > a.today then return {'age', 0} end
  if tonumber(host) == 0 or tonumber(host) > a.today then return {'host_no', 0} end
  local coins = a.coins
  local spent = 0
  if m[4] == a.day then spent = tonumber(m[3]) end
  local cap = tonumber(m[5])
  if spent + coins > cap then return {'cap', math.max(cap - spent, 0), cap} end
  local balance = tonumber(m[1]) - tonumber(m[2])
  if balance < coins then return {'coins', math.max(balance, 0)} end
  redis.call('HINCRBY', km, 'pend', coins)
  redis.call('HSET', km, 'spent', spent + coins, 'day', a.day, 'p:' .. a.uid, coins)
  redis.call('HSET', kt, 'sig', a.sig, 'st', 'p', 'uid', a.uid, 'bal', balance - coins)
  redis.call('EXPIRE', kt, a.token_ttl)
  redis.call('XADD', ks, '*', 'r', a.payload)
  return {'ok', balance - coins}
end
"""

# The same check alone (the room composes RESERVE with its own keys into one script).
# KEYS: mirror, token, host, stream. ARGV: as `a` above, in order.
_RESERVE_ALONE = (
    RESERVE
    + """
local t = redis.call('TIME')
return gift_reserve(KEYS[1], KEYS[2], KEYS[3], KEYS[4], {
  uid = ARGV[1], coins = tonumber(ARGV[2]), today = tonumber(ARGV[3]), day = ARGV[4],
  sig = ARGV[5], token_ttl = tonumber(ARGV[6]), max_age = tonumber(ARGV[7]),
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), payload = ARGV[8]})
"""
)

# Prime the mirror from PostgreSQL, called holding the wallet's row lock. KEYS: mirror.
# ARGV: pg balance, coins sent today in PostgreSQL, day, cap, frozen, adult, ver seen before
# reading PostgreSQL. Returns the spendable balance.
_PRIME = """
local vals = redis.call('HGETALL', KEYS[1])
local pend = 0
for i = 1, #vals, 2 do
  if string.sub(vals[i], 1, 2) == 'p:' then pend = pend + tonumber(vals[i + 1]) end
end
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], 'pg', ARGV[1], 'pend', pend, 'spent', tonumber(ARGV[2]) + pend,
    'day', ARGV[3], 'cap', ARGV[4], 'frozen', ARGV[5], 'adult', ARGV[6],
    'at', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), 'fresh', ARGV[7])
if not redis.call('HGET', KEYS[1], 'ver') then redis.call('HSET', KEYS[1], 'ver', '0') end
return tonumber(ARGV[1]) - pend
"""

# The writer, holding the batch's wallet row locks, before it commits: move each send out of
# its sender's pending coins. ARGV: prefix, then (sender, uid, coins, 'w' written | 'r' refused).
# A send whose marker is gone was reserved before the mirror was rebuilt (Redis lost its
# data): a mirror primed since read PostgreSQL without it, so a written one comes off `pg`.
_APPLY = """
for i = 2, #ARGV, 4 do
  local km = ARGV[1] .. 'w:' .. ARGV[i]
  local c = tonumber(ARGV[i + 2])
  if redis.call('HDEL', km, 'p:' .. ARGV[i + 1]) == 1 then
    redis.call('HINCRBY', km, 'pend', -c)
    if ARGV[i + 3] == 'w' then
      redis.call('HINCRBY', km, 'pg', -c)
    else
      redis.call('HINCRBY', km, 'spent', -c)
    end
  elseif ARGV[i + 3] == 'w' and redis.call('HEXISTS', km, 'pg') == 1 then
    redis.call('HINCRBY', km, 'pg', -c)
  end
end
return 1
"""

# After the batch committed. KEYS: stream, channel. ARGV: prefix, group, then (stream id,
# sender, token, state) per entry. Acknowledges, records each token's outcome and tells the
# waiting senders' processes in one message.
_FINISH = """
local out = {}
for i = 3, #ARGV, 4 do
  redis.call('XACK', KEYS[1], ARGV[2], ARGV[i])
  redis.call('XDEL', KEYS[1], ARGV[i])
  local kt = ARGV[1] .. 't:' .. ARGV[i + 1] .. ':' .. ARGV[i + 2]
  if redis.call('EXISTS', kt) == 1 then redis.call('HSET', kt, 'st', ARGV[i + 3]) end
  out[#out + 1] = ARGV[i + 1] .. ':' .. ARGV[i + 2] .. ':' .. ARGV[i + 3]
end
if #out > 0 then redis.call('PUBLISH', KEYS[2], table.concat(out, ';')) end
return #out
"""

WRITTEN = "w"
PENDING = "p"


@dataclass(frozen=True)
class Entry:
    """One send as the writer reads it from the stream."""

    stream_id: str
    uid: str
    sender_id: int
    host_id: int
    gift_id: int
    count: int
    coins: int
    session_id: int | None
    client_token: str
    sent_ms: int


def prefix() -> str:
    return settings.GIFTS_KEY_PREFIX


def enabled() -> bool:
    return bool(settings.GIFTS_REDIS_URL)


def mirror_key(user_id: int) -> str:
    return f"{prefix()}w:{user_id}"


def token_key(user_id: int, token: str) -> str:
    return f"{prefix()}t:{user_id}:{token}"


def host_key(host_id: int) -> str:
    return f"{prefix()}h:{host_id}"


def stream_key() -> str:
    return f"{prefix()}stream"


def done_channel(url: str | None = None) -> str:
    from redis.connection import parse_url

    db = parse_url(url or settings.GIFTS_REDIS_URL).get("db", 0)
    # Pub/sub ignores the database: name it, so two deployments on one server never cross.
    return f"{prefix()}done:db{db}"


def payload(
    *,
    uid: str,
    sender_id: int,
    host_id: int,
    gift_id: int,
    count: int,
    coins: int,
    session_id: int | None,
    client_token: str,
    sent_ms: int,
) -> str:
    return json.dumps(
        {"u": uid, "s": sender_id, "h": host_id, "g": gift_id, "n": count, "c": coins,
         "x": session_id or 0, "k": client_token, "t": sent_ms},
        separators=(",", ":"),
    )  # fmt: skip


def signature(*, host_id: int, gift_id: int, count: int, session_id: int | None) -> str:
    """What a resend must repeat to be the same send (another gift under a used token is not)."""
    return f"{host_id}:{gift_id}:{count}:{session_id or 0}"


@lru_cache(maxsize=4)
def _client(url: str):
    import redis
    from redis.maint_notifications import MaintNotificationsConfig

    return redis.Redis.from_url(
        url,
        decode_responses=True,
        max_connections=64,
        maint_notifications_config=MaintNotificationsConfig(enabled=False),
    )


def client():
    return _client(settings.GIFTS_REDIS_URL)


class _Scripts:
    def __init__(self, r):
        self.reserve = r.register_script(_RESERVE_ALONE)
        self.prime = r.register_script(_PRIME)
        self.apply = r.register_script(_APPLY)
        self.finish = r.register_script(_FINISH)


@lru_cache(maxsize=4)
def _scripts_for(url: str) -> _Scripts:
    return _Scripts(_client(url))


def scripts() -> _Scripts:
    return _scripts_for(settings.GIFTS_REDIS_URL)


# --- the mirror --------------------------------------------------------------------------------


def invalidate(user_ids) -> None:
    """Something that decides whether or how much a user may send changed: their mirror is
    primed from PostgreSQL again before their next send."""
    pipe = client().pipeline(transaction=False)
    for user_id in set(user_ids):
        pipe.hincrby(mirror_key(user_id), "ver", 1)
    pipe.execute()


def mirror_versions(user_ids: list[int]) -> list[str]:
    pipe = client().pipeline(transaction=False)
    for user_id in user_ids:
        pipe.hget(mirror_key(user_id), "ver")
    return [v or "0" for v in pipe.execute()]


def prime_many(mirrors: list[dict]) -> dict[int, int]:
    """Set mirrors (user_id, pg_balance, spent_today, day, cap, frozen, adult, version each);
    call holding the wallets' row locks (the writer's batches take them too). Returns each
    user's spendable balance."""
    pipe = client().pipeline(transaction=False)
    for m in mirrors:
        scripts().prime(
            keys=[mirror_key(m["user_id"])],
            args=[m["pg_balance"], m["spent_today"], m["day"], m["cap"],
                  1 if m["frozen"] else 0, m["adult"], m["version"]],
            client=pipe,
        )  # fmt: skip
    return {m["user_id"]: int(n) for m, n in zip(mirrors, pipe.execute(), strict=True)}


def reserve(
    *, uid: str, sender_id: int, host_id: int, gift_id: int, count: int, coins: int,
    session_id: int | None, client_token: str, today: int, day: str, sent_ms: int,
) -> list:  # fmt: skip
    """The reserve script alone (the room runs it composed with its event, in one script)."""
    body = payload(
        uid=uid, sender_id=sender_id, host_id=host_id, gift_id=gift_id, count=count,
        coins=coins, session_id=session_id, client_token=client_token, sent_ms=sent_ms,
    )  # fmt: skip
    sig = signature(host_id=host_id, gift_id=gift_id, count=count, session_id=session_id)
    return scripts().reserve(
        keys=[mirror_key(sender_id), token_key(sender_id, client_token), host_key(host_id),
              stream_key()],
        args=[uid, coins, today, day, sig, settings.GIFTS_TOKEN_SECONDS,
              settings.GIFTS_MIRROR_SECONDS * 1000, body],
        client=client(),
    )  # fmt: skip


def set_host(host_id: int, adult: int, ttl: int) -> None:
    client().set(host_key(host_id), adult, ex=ttl)


def forget_host(host_id: int) -> None:
    client().delete(host_key(host_id))


def mirror(user_id: int) -> dict[str, str]:
    """The mirror as stored (tests, the admin's eye)."""
    return client().hgetall(mirror_key(user_id))


def spendable(user_id: int) -> int | None:
    m = client().hmget(mirror_key(user_id), "pg", "pend")
    return None if m[0] is None else int(m[0]) - int(m[1] or 0)


# --- the writer's side -------------------------------------------------------------------------


def ensure_group() -> None:
    import redis

    try:
        client().xgroup_create(stream_key(), GROUP, id="0", mkstream=True)
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
                stream_id=stream_id, uid=d["u"], sender_id=d["s"], host_id=d["h"],
                gift_id=d["g"], count=d["n"], coins=d["c"], session_id=d["x"] or None,
                client_token=d["k"], sent_ms=d["t"],
            )
        )  # fmt: skip
    return out


def read_batch(*, consumer: str, count: int, block_ms: int, reclaim_idle_ms: int) -> list[Entry]:
    """Entries another writer took and never acknowledged (it died) first, then new ones."""
    import redis

    r = client()
    try:
        _, claimed, _ = r.xautoclaim(
            stream_key(), GROUP, consumer, min_idle_time=reclaim_idle_ms, start_id="0-0",
            count=count,
        )  # fmt: skip
        if claimed:
            return _entries(claimed)
        got = r.xreadgroup(
            GROUP, consumer, {stream_key(): ">"}, count=count, block=block_ms or None
        )
    except redis.ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        ensure_group()  # Redis lost the group (a flush, a restart): what the stream holds is new
        return []
    return _entries(got[0][1]) if got else []


def apply(outcomes: list[tuple[Entry, str]]) -> None:
    """Before the batch commits: (entry, 'w' written | 'r' refused) off the pending coins."""
    if not outcomes:
        return
    args: list[Any] = [prefix()]
    for e, state in outcomes:
        args += [e.sender_id, e.uid, e.coins, WRITTEN if state == WRITTEN else "r"]
    scripts().apply(args=args, client=client())


def finish(outcomes: list[tuple[Entry, str]]) -> None:
    """After the batch committed: acknowledge the entries and tell the senders' processes."""
    if not outcomes:
        return
    args: list[Any] = [prefix(), GROUP]
    for e, state in outcomes:
        args += [e.stream_id, e.sender_id, e.client_token, state]
    scripts().finish(keys=[stream_key(), done_channel()], args=args, client=client())


def backlog() -> int:
    """Sends in the stream not yet acknowledged by a writer."""
    import redis

    try:
        return int(client().xlen(stream_key()))
    except redis.ResponseError:
        return 0
