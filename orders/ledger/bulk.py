"""Many balanced postings in a few statements: for batch writers (gifts' send writer).

The same rules as `services.post`, in bulk: every transaction's entries sum to zero per
currency (checked here, and by the deferred PostgreSQL trigger at commit), amounts are
non-zero integers, references are unique, deferred (hot) accounts get unfolded entries and
no row update, other accounts' cached balances move in one UPDATE, and a non-negative
account (a coin wallet) that would go below zero fails the whole batch (InsufficientBalance;
the CheckConstraint is the backstop). The caller holds the moved accounts' row locks (in id
order) and has already decided that each posting fits; it also keeps any mirror of the
balances itself (the wallet hooks of `services.post` are not called).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg
from django.db import connection

from .models import LedgerAccount, LedgerEntry, LedgerTransaction
from .services import NON_NEGATIVE_KINDS, InsufficientBalance, UnbalancedPosting


@dataclass(frozen=True)
class Posting:
    reference: str
    kind: str
    memo: str
    entries: Sequence[tuple[LedgerAccount, int]]
    created_at: datetime


def insert_rows(table: str, columns: dict[str, tuple[str, list]]) -> list[int]:
    """One INSERT of many rows from column arrays (unnest, bound in binary): returns the new
    ids in row order. On the current connection, so inside the caller's transaction."""
    names = ", ".join(columns)
    arrays = ", ".join(f"%b::{pg_type}[]" for pg_type, _ in columns.values())
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) RETURNING id",  # noqa: S608
            [values for _, values in columns.values()],
            binary=True,
        )
        return [row[0] for row in cursor.fetchall()]


def _check(postings: Sequence[Posting]) -> None:
    for p in postings:
        totals: dict[str, int] = defaultdict(int)
        for acct, amount in p.entries:
            if not isinstance(amount, int) or isinstance(amount, bool) or amount == 0:
                raise UnbalancedPosting("Ledger amounts are non-zero integers in minor units.")
            totals[acct.currency] += amount
        if not p.entries or any(totals.values()):
            raise UnbalancedPosting(f"{p.reference}: entries do not balance: {dict(totals)}.")


def post_many(postings: Sequence[Posting]) -> list[int]:
    """Post every one of `postings` (PostgreSQL only); returns their transaction ids in order."""
    if not postings:
        return []
    _check(postings)
    txn_ids = insert_rows(
        LedgerTransaction._meta.db_table,
        {
            "kind": ("varchar", [p.kind for p in postings]),
            "reference": ("varchar", [p.reference for p in postings]),
            "memo": ("varchar", [p.memo[:255] for p in postings]),
            "created_at": ("timestamptz", [p.created_at for p in postings]),
        },
    )
    rows = [
        (txn_id, acct, amount)
        for txn_id, p in zip(txn_ids, postings, strict=True)
        for acct, amount in p.entries
    ]
    insert_rows(
        LedgerEntry._meta.db_table,
        {
            "transaction_id": ("bigint", [r[0] for r in rows]),
            "account_id": ("bigint", [r[1].pk for r in rows]),
            "amount": ("bigint", [r[2] for r in rows]),
            "currency": ("varchar", [r[1].currency for r in rows]),
            "folded": ("bool", [not r[1].deferred_balance for r in rows]),
        },
    )
    deltas: dict[int, int] = defaultdict(int)
    guarded: set[int] = set()
    for _, acct, amount in rows:
        if not acct.deferred_balance:
            deltas[acct.pk] += amount
            if acct.kind in NON_NEGATIVE_KINDS:
                guarded.add(acct.pk)
    ids = sorted(deltas)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {LedgerAccount._meta.db_table} AS a "  # noqa: S608
            "SET balance_amount = a.balance_amount + d.delta "
            "FROM unnest(%s::bigint[], %s::bigint[], %s::bool[]) AS d(id, delta, guarded) "
            "WHERE a.id = d.id AND (NOT d.guarded OR a.balance_amount + d.delta >= 0)",
            [ids, [deltas[i] for i in ids], [i in guarded for i in ids]],
        )
        if cursor.rowcount != len(ids):
            short = LedgerAccount.objects.filter(pk__in=guarded).order_by("pk").first()
            raise InsufficientBalance(
                "A batch would take a wallet below zero.", account=short, needed=0
            )
    return txn_ids
