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


@transaction.atomic
def prime_sender(*, user_id: int) -> int:
    """Set the user's mirror from PostgreSQL; returns the spendable balance."""
    from django.contrib.auth import get_user_model

    from ..wallet import COIN

    version = store.mirror_version(user_id)  # before reading: a change after it shows
    acct, _ = LedgerAccount.objects.get_or_create(
        kind=LedgerAccount.Kind.COIN_WALLET, currency=COIN, shop=None, user_id=user_id
    )
    balance = (
        LedgerAccount.objects.select_for_update()
        .values_list("balance_amount", flat=True)
        .get(pk=acct.pk)
    )
    birth_date = (
        get_user_model()._default_manager.values_list("birth_date", flat=True).get(pk=user_id)
    )
    profile = GiftingProfile.objects.filter(user_id=user_id).first()
    today = timezone.localdate()
    spent = (
        GiftSend.objects.filter(sender_id=user_id, created_at__gte=_start_of(today)).aggregate(
            total=Sum("coins_total")
        )["total"]
        or 0
    )
    return store.prime(
        user_id=user_id,
        pg_balance=balance,
        spent_today=spent,
        day=today.isoformat(),
        cap=effective_daily_cap(profile),
        frozen=profile is not None and profile.is_frozen,
        adult=adult_from(birth_date),
        version=version,
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
