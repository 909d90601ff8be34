"""The batch writer: each room send in the Redis stream becomes exactly one GiftSend row with
its balanced posting (wallet -> host's diamonds + platform coins), or one refusal, in
PostgreSQL, a batch per transaction (`manage.py gift_writer`, and a beat sweep for what a dead
writer left).

Exactly once: the batch locks its senders' wallet rows (id order), skips sends whose
(sender, client token) is already written (unique in GiftSend, and the posting's reference
too), and the stream entries are acknowledged only after the commit. A writer killed mid-batch
leaves its entries pending in the consumer group; the next writer claims them (XAUTOCLAIM)
and skips what was written. PostgreSQL decides: under the locks each send must fit the
wallet's balance and its sender must not be frozen, whatever the Redis mirror said (it can
only be wrong after Redis lost data); the wallet's CheckConstraint is the backstop.

The senders' acks wait for the outcome (`store.finish` publishes it after the commit).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from django.db import OperationalError, transaction

from orders.ledger.bulk import Posting, insert_rows, post_many
from orders.ledger.models import LedgerAccount

from .. import wallet
from ..models import Gift, GiftingProfile, GiftSend
from ..signals import gift_sent
from . import store
from .services import shares

logger = logging.getLogger(__name__)

Kind = LedgerAccount.Kind
REFUSED_COINS, REFUSED_FROZEN, REFUSED_GIFT = "r:coins", "r:frozen", "r:gift"


def write_batch(entries: list[store.Entry]) -> list[tuple[store.Entry, str]]:
    """Write these sends and acknowledge them; returns (entry, outcome) per entry."""
    if not entries:
        return []
    for attempt in range(3):
        try:
            with transaction.atomic():
                outcomes, written = _write(entries)
            break
        except OperationalError:  # a deadlock or a lost connection: try again
            if attempt == 2:
                raise
            logger.warning("gift batch of %d failed, retrying", len(entries), exc_info=True)
    store.finish(outcomes)
    _announce(written)
    return outcomes


def _at(entry: store.Entry) -> datetime:
    return datetime.fromtimestamp(entry.sent_ms / 1000, tz=UTC)


def _accounts(entries: list[store.Entry]):
    senders = sorted({e.sender_id for e in entries})
    wallets = {
        a.user_id: a
        for a in LedgerAccount.objects.select_for_update()
        .filter(kind=Kind.COIN_WALLET, currency=wallet.COIN, user_id__in=senders)
        .order_by("pk")
    }
    hosts = {e.host_id for e in entries}
    diamonds = {
        a.user_id: a
        for a in LedgerAccount.objects.filter(
            kind=Kind.CREATOR_DIAMONDS, currency=wallet.COIN, user_id__in=hosts
        )
    }
    for host_id in hosts - diamonds.keys():
        diamonds[host_id] = LedgerAccount.objects.get_or_create(
            kind=Kind.CREATOR_DIAMONDS, currency=wallet.COIN, shop=None, user_id=host_id,
            defaults={"deferred_balance": True},
        )[0]  # fmt: skip
    return wallets, diamonds


def _write(entries: list[store.Entry]):
    wallets, diamonds = _accounts(entries)
    senders = list(wallets)
    # After the locks: a batch another writer committed meanwhile is visible now.
    done = set(
        GiftSend.objects.filter(
            sender_id__in=senders, client_token__in=[e.client_token for e in entries]
        ).values_list("sender_id", "client_token")
    )
    frozen = set(
        GiftingProfile.objects.filter(user_id__in=senders, frozen_at__isnull=False).values_list(
            "user_id", flat=True
        )
    )
    gifts = set(
        Gift.objects.filter(pk__in={e.gift_id for e in entries}).values_list("pk", flat=True)
    )
    left = {user_id: acct.balance_amount for user_id, acct in wallets.items()}
    outcomes: list[tuple[store.Entry, str]] = []
    mirror: list[tuple[store.Entry, str]] = []
    accepted: list[store.Entry] = []
    for e in entries:
        key = (e.sender_id, e.client_token)
        if key in done:  # written before (a killed writer's batch, or a resend after a flush)
            outcome = store.WRITTEN
        elif e.sender_id in frozen:
            outcome = REFUSED_FROZEN
        elif e.gift_id not in gifts:
            outcome = REFUSED_GIFT
        elif left.get(e.sender_id, 0) < e.coins:
            outcome = REFUSED_COINS
        else:
            left[e.sender_id] -= e.coins
            done.add(key)
            accepted.append(e)
            outcomes.append((e, store.WRITTEN))
            mirror.append((e, store.WRITTEN))
            continue
        outcomes.append((e, outcome))
        mirror.append((e, "r"))
    platform = wallet.platform_account(Kind.PLATFORM_REVENUE)
    postings = []
    for e in accepted:
        creator, cut = shares(e.coins)
        moves = [(wallets[e.sender_id], -e.coins), (diamonds[e.host_id], creator), (platform, cut)]
        postings.append(
            Posting(
                reference=f"gifts:send:{e.sender_id}:{e.client_token}",
                kind="gift_send",
                memo=f"{e.count} x gift {e.gift_id} from user {e.sender_id} to user {e.host_id}",
                entries=[(acct, amount) for acct, amount in moves if amount],
                created_at=_at(e),
            )
        )
    txn_ids = post_many(postings)
    if accepted:
        _insert_sends(accepted, txn_ids)
    store.apply(mirror)  # under the wallet locks, before the commit (see store._APPLY)
    return outcomes, accepted


def _insert_sends(accepted: list[store.Entry], txn_ids: list[int]) -> None:
    split = [shares(e.coins) for e in accepted]
    live, direct = GiftSend.Context.LIVE.value, GiftSend.Context.DIRECT.value
    insert_rows(
        GiftSend._meta.db_table,
        {
            "sender_id": ("bigint", [e.sender_id for e in accepted]),
            "host_id": ("bigint", [e.host_id for e in accepted]),
            "gift_id": ("bigint", [e.gift_id for e in accepted]),
            "session_id": ("bigint", [e.session_id for e in accepted]),
            "context": ("varchar", [live if e.session_id else direct for e in accepted]),
            "count": ("smallint", [e.count for e in accepted]),
            "coins_total": ("integer", [e.coins for e in accepted]),
            "creator_diamonds": ("integer", [s[0] for s in split]),
            "platform_coins": ("integer", [s[1] for s in split]),
            "client_token": ("varchar", [e.client_token for e in accepted]),
            "ledger_transaction_id": ("bigint", txn_ids),
            "created_at": ("timestamptz", [_at(e) for e in accepted]),
        },
    )


def _announce(written: list[store.Entry]) -> None:
    """gifts.signals.gift_sent for each written send, as the PostgreSQL path sends it."""
    if not written or not gift_sent.has_listeners(GiftSend):
        return
    rows = GiftSend.objects.filter(
        sender_id__in={e.sender_id for e in written},
        client_token__in=[e.client_token for e in written],
    ).values_list("sender_id", "client_token", "pk")
    ids = {(sender, token): pk for sender, token, pk in rows}
    for e in written:
        gift_sent.send(
            sender=GiftSend, send_id=ids.get((e.sender_id, e.client_token)), sender_id=e.sender_id,
            host_id=e.host_id, gift_id=e.gift_id, count=e.count, coins_total=e.coins,
            session_id=e.session_id,
        )  # fmt: skip


def drain(*, consumer: str, max_batches: int = 1000, block_ms: int = 0) -> int:
    """Write what the stream holds now (bounded); returns how many sends were handled."""
    store.ensure_group()
    handled = 0
    for _ in range(max_batches):
        entries = store.read_batch(
            consumer=consumer,
            count=_batch_size(),
            block_ms=block_ms,
            reclaim_idle_ms=_reclaim_ms(),
        )
        if not entries:
            break
        handled += len(write_batch(entries))
    return handled


def run(*, consumer: str, stop: threading.Event | None = None, block_ms: int = 100) -> None:
    """The writer process's loop (`manage.py gift_writer`): write batches until `stop`."""
    from django.db import close_old_connections

    store.ensure_group()
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            entries = store.read_batch(
                consumer=consumer,
                count=_batch_size(),
                block_ms=block_ms,
                reclaim_idle_ms=_reclaim_ms(),
            )
            write_batch(entries)
        except Exception:  # a lost connection: the entries stay pending, taken again later
            logger.exception("gift writer batch failed")
            close_old_connections()
            stop.wait(0.5)


def _batch_size() -> int:
    from django.conf import settings

    return settings.GIFTS_WRITER_BATCH


def _reclaim_ms() -> int:
    from django.conf import settings

    return settings.GIFTS_WRITER_RECLAIM_MS
