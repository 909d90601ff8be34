"""Keeping the Redis mirror of senders' wallets (gifts.sending.store) true to PostgreSQL.

- `prime_sender` reads what decides a user's sends (wallet balance, coins sent today, cap,
  freeze, birth date) under the wallet's row lock, which the writer's batches also hold, and
  sets the mirror; the room calls it when the script says the mirror is missing or stale.
- Every write that changes one of those marks the mirror stale, in its transaction (so a send
  arriving before the commit waits on the row lock in `prime_sender`) and again on commit (so
  a priming that read the old rows before the commit is not trusted): a ledger posting to a
  wallet (purchases, refunds, disputes, adjustments, sends over HTTP, through the hook
  orders.ledger offers), a freeze or unfreeze, the user's own settings, their birth date.
- `host_facts` is what the script checks of the receiving host (adult creator, active),
  cached in Redis and forgotten when the user row is saved.

If Redis cannot be told, the mirror is rebuilt within GIFTS_MIRROR_SECONDS anyway, and the
writer checks the wallet and the freeze again in PostgreSQL before it writes a send.
"""

from __future__ import annotations

import logging
from datetime import date

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from orders.ledger.models import LedgerAccount

from ..models import GiftingProfile, GiftSend
from ..services import effective_daily_cap
from . import store

logger = logging.getLogger(__name__)


def adult_from(birth_date: date | None) -> int:
    """YYYYMMDD of the day this person reaches GIFTS_MINIMUM_AGE (0: no birth date given)."""
    if birth_date is None:
        return 0
    years = birth_date.year + settings.GIFTS_MINIMUM_AGE
    try:
        day = birth_date.replace(year=years)
    except ValueError:  # born on 29 February
        day = date(years, 3, 1)
    return day.year * 10000 + day.month * 100 + day.day


def today_number(today: date | None = None) -> int:
    today = today or timezone.localdate()
    return today.year * 10000 + today.month * 100 + today.day


def _start_of(day: date):
    from datetime import datetime, time

    return timezone.make_aware(datetime.combine(day, time.min))


def prime_sender(*, user_id: int) -> int:
    """Set the user's mirror from PostgreSQL; returns the spendable balance."""
    return prime_senders(user_ids=[user_id])[user_id]


@transaction.atomic
def prime_senders(*, user_ids) -> dict[int, int]:
    """Set these users' mirrors from PostgreSQL in one go (a storm's first sends ask for many at
    once); returns each one's spendable balance."""
    from django.contrib.auth import get_user_model

    from ..wallet import COIN

    ids = sorted(set(user_ids))
    versions = dict(zip(ids, store.mirror_versions(ids), strict=True))  # before reading
    Kind = LedgerAccount.Kind
    wallets = LedgerAccount.objects.filter(kind=Kind.COIN_WALLET, currency=COIN, user_id__in=ids)
    missing = set(ids) - set(wallets.values_list("user_id", flat=True))
    for user_id in sorted(missing):
        LedgerAccount.objects.get_or_create(
            kind=Kind.COIN_WALLET, currency=COIN, shop=None, user_id=user_id
        )
    # The writer's batches lock these rows too (id order): no batch commits between this read
    # and the mirror being set.
    balances = dict(
        wallets.select_for_update().order_by("pk").values_list("user_id", "balance_amount")
    )
    births = dict(
        get_user_model()._default_manager.filter(pk__in=ids).values_list("pk", "birth_date")
    )
    profiles = {p.user_id: p for p in GiftingProfile.objects.filter(user_id__in=ids)}
    today = timezone.localdate()
    spent = dict(
        GiftSend.objects.filter(sender_id__in=ids, created_at__gte=_start_of(today))
        .values("sender_id")
        .annotate(total=Sum("coins_total"))
        .values_list("sender_id", "total")
    )
    return store.prime_many(
        [
            dict(
                user_id=user_id,
                pg_balance=balances.get(user_id, 0),
                spent_today=spent.get(user_id) or 0,
                day=today.isoformat(),
                cap=effective_daily_cap(profiles.get(user_id)),
                frozen=user_id in profiles and profiles[user_id].is_frozen,
                adult=adult_from(births.get(user_id)),
                version=versions[user_id],
            )
            for user_id in ids
        ]
    )


def host_facts(host_id: int) -> int:
    """Cache and return YYYYMMDD from which `host_id` may receive gifts (0: never)."""
    from django.contrib.auth import get_user_model

    row = (
        get_user_model()
        ._default_manager.filter(pk=host_id)
        .values("birth_date", "is_creator", "is_active")
        .first()
    )
    facts = 0
    if row is not None and row["is_creator"] and row["is_active"]:
        facts = adult_from(row["birth_date"])
    store.set_host(host_id, facts, settings.GIFTS_MIRROR_SECONDS)
    return facts


def _tell(user_ids: list[int], *, host: bool = False) -> None:
    try:
        store.invalidate(user_ids)
        if host:
            for user_id in user_ids:
                store.forget_host(user_id)
    except Exception:  # Redis away: the mirror ages out, and the writer checks PostgreSQL
        logger.warning("gifts: could not mark the mirrors of %s stale", user_ids, exc_info=True)


def changed(user_ids, *, host: bool = False) -> None:
    """What decides these users' sends changed in this transaction: now, and on commit."""
    if not store.enabled():
        return
    ids = sorted({int(u) for u in user_ids if u})
    if not ids:
        return
    _tell(ids, host=host)
    transaction.on_commit(lambda: _tell(ids, host=host))


def wallets_posted(user_ids) -> None:
    """orders.ledger's hook: a posting moved these users' coin wallets."""
    changed(user_ids)


_USER_FIELDS = frozenset({"birth_date", "is_active", "is_creator"})


def user_saved(sender, instance, created, update_fields=None, **kwargs) -> None:
    """A user row saved: their birth date or standing may have changed (as sender or host)."""
    if created or (update_fields is not None and not (_USER_FIELDS & set(update_fields))):
        return
    changed([instance.pk], host=True)
