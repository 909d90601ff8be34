"""The batch writer: each reservation in the Redis stream becomes exactly one checkout (with its
order, item and event) or one refusal, in PostgreSQL, a batch per transaction.

Exactly once: a batch is one transaction that also inserts a FlashReservation row per
reservation id (unique), and the stream entries are acknowledged only after it commits. A
writer killed mid-batch leaves its entries pending in the consumer group; the next writer
takes them over (XAUTOCLAIM) and skips the ids already written.

The variant rows are locked (in id order) for the batch, and their stock goes down by one
conditional UPDATE per variant: PostgreSQL never sells a unit it does not have, whatever Redis
said. Priming (orders.flash.services.prime_variant) takes the same locks.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import psycopg
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from shops import tab_cache
from shops.models import Product, Shop, Variant

from ..checkout.services import platform_fee
from ..ledger.bulk import insert_rows
from ..models import Checkout, FlashReservation, Order
from . import store
from .hooks import deal_hook

logger = logging.getLogger(__name__)

WRITTEN, REJECTED = FlashReservation.Status.WRITTEN, FlashReservation.Status.REJECTED


def write_batch(entries: list[store.Entry]) -> list[tuple[store.Entry, str, int]]:
    """Write these reservations and acknowledge them; returns (entry, outcome, units back)."""
    if not entries:
        return []
    for attempt in range(3):
        try:
            with transaction.atomic():
                outcomes = _write(entries)
            break
        except OperationalError:  # a deadlock with a release or a priming: try again
            if attempt == 2:
                raise
            logger.warning("flash batch of %d failed, retrying", len(entries), exc_info=True)
    store.finish(outcomes)
    return outcomes


def _reject(entry: store.Entry, reason: str) -> FlashReservation:
    return FlashReservation(
        reservation_id=entry.rid,
        variant_id=entry.variant_id,
        buyer_id=entry.buyer_id,
        quantity=entry.quantity,
        deal_id=entry.deal_id or None,
        status=REJECTED,
        reason=reason,
        reserved_at=_at(entry),
    )


def _at(entry: store.Entry) -> datetime:
    return datetime.fromtimestamp(entry.reserved_ms / 1000, tz=UTC)


def _write(entries: list[store.Entry]) -> list[tuple[store.Entry, str, int]]:
    unique = list({e.rid: e for e in entries}.values())
    variants = {
        v.pk: v
        for v in Variant.objects.select_for_update(of=("self",))
        .select_related("product", "shop")
        .filter(pk__in=sorted({e.variant_id for e in unique}))
        .order_by("pk")
    }
    # After the locks: a batch another writer committed meanwhile is visible now.
    done = dict(
        FlashReservation.objects.filter(reservation_id__in=[e.rid for e in unique]).values_list(
            "reservation_id", "status"
        )
    )
    outcomes: list[tuple[store.Entry, str, int]] = [
        (e, done[e.rid], 0) for e in unique if e.rid in done
    ]
    todo = [e for e in unique if e.rid not in done]
    if not todo:
        return outcomes
    confirmed = store.confirm(todo)
    refused: list[FlashReservation] = []
    candidates = []
    for entry, ok in zip(todo, confirmed, strict=True):
        v = variants.get(entry.variant_id)
        if not ok:
            refused.append(_reject(entry, "Sold out."))
        elif (
            v is None
            or v.product.status != Product.Status.ACTIVE
            or v.shop.status != Shop.Status.ACTIVE
        ):
            refused.append(_reject(entry, "No longer available."))
        else:
            candidates.append(entry)
    left = {pk: v.quantity for pk, v in variants.items()}
    in_stock = []
    for entry in candidates:
        if left[entry.variant_id] < entry.quantity:
            refused.append(_reject(entry, "Sold out."))
        else:
            left[entry.variant_id] -= entry.quantity
            in_stock.append(entry)
    hook = deal_hook()
    deal_claims = [(e.rid, e.deal_id, e.quantity) for e in in_stock if e.deal_id]
    deal_ok = hook.take(claims=deal_claims) if hook and deal_claims else set()
    accepted: list[store.Entry] = []
    for entry in in_stock:
        if entry.deal_id and entry.rid not in deal_ok:
            refused.append(_reject(entry, "The flash deal sold out."))
        else:
            accepted.append(entry)
    taken: dict[int, int] = defaultdict(int)
    for entry in accepted:
        taken[entry.variant_id] += entry.quantity
    for variant_id, n in sorted(taken.items()):
        updated = Variant.objects.filter(pk=variant_id, quantity__gte=n).update(
            quantity=F("quantity") - n
        )
        if updated != 1:  # we hold the lock and counted from it: cannot happen
            raise RuntimeError(f"stock of variant {variant_id} moved under its lock")
    tab_cache.changed({variants[vid].shop_id for vid in taken})
    checkout_ids = _create_checkouts(accepted, variants)
    if hook and deal_claims:
        hook.record(
            claims=[(e.deal_id, checkout_ids[e.rid], e.quantity) for e in accepted if e.deal_id]
        )
    _record(refused)
    outcomes += [(e, WRITTEN, 0) for e in accepted]
    by_rid = {e.rid: e for e in todo}
    outcomes += [(by_rid[r.reservation_id], REJECTED, r.quantity) for r in refused]
    return outcomes


# One statement writes a batch's checkouts, orders, items, "placed" events and reservation
# records: the rows arrive as one JSON document (json.dumps, then PostgreSQL's own parser:
# no per-value work in Python), each checkout's id is drawn first so that its idempotency key
# is written with it, and the orders' ids come back through RETURNING. Foreign keys are
# checked at commit (Django's are deferred), so the order of the inserts does not matter.
_WRITE_CHECKOUTS = """
WITH batch AS (
  SELECT b.*, nextval(pg_get_serial_sequence('orders_checkout', 'id')) AS checkout_id
  FROM jsonb_to_recordset(%(rows)s::jsonb) AS b(
    buyer_id bigint, shop_id bigint, variant_id bigint, deal_id bigint, quantity integer,
    unit_price bigint, total bigint, fee bigint, currency text, address jsonb,
    source text, source_ref text, product_title text, variant_label text, sku text,
    reservation_id text, reserved_at timestamptz, expires_at timestamptz
  )
), checkouts AS (
  INSERT INTO orders_checkout (id, buyer_id, status, total_amount, currency, shipping_address,
                               idempotency_key, client_secret, amount_received, expires_at,
                               created_at, updated_at)
  SELECT checkout_id, buyer_id, %(open)s, total, currency, address,
         'checkout-' || checkout_id, '', 0, expires_at, %(now)s, %(now)s
  FROM batch
), orders AS (
  INSERT INTO orders_order (checkout_id, shop_id, buyer_id, status, currency, subtotal_amount,
                            shipping_amount, total_amount, fee_amount, refunded_amount, source,
                            source_ref, shipping_address, carrier, tracking_number, created_at,
                            updated_at)
  SELECT checkout_id, shop_id, buyer_id, %(pending)s, currency, total, 0, total, fee, 0, source,
         source_ref, address, '', '', %(now)s, %(now)s
  FROM batch
  RETURNING id, checkout_id
), items AS (
  INSERT INTO orders_orderitem (order_id, variant_id, product_title, variant_label, sku,
                                unit_price_amount, quantity, line_total_amount)
  SELECT o.id, b.variant_id, b.product_title, b.variant_label, b.sku, b.unit_price, b.quantity,
         b.total
  FROM orders o JOIN batch b USING (checkout_id)
), events AS (
  INSERT INTO orders_orderevent (order_id, kind, message, data, actor_id, created_at)
  SELECT o.id, 'placed', 'Order placed.', '{}'::jsonb, b.buyer_id, %(now)s
  FROM orders o JOIN batch b USING (checkout_id)
), records AS (
  INSERT INTO orders_flashreservation (reservation_id, variant_id, buyer_id, quantity, deal_id,
                                       status, reason, checkout_id, reserved_at, written_at)
  SELECT reservation_id, variant_id, buyer_id, quantity, deal_id, %(written)s, '', checkout_id,
         reserved_at, %(now)s
  FROM batch
)
SELECT reservation_id, checkout_id FROM batch
"""


def _create_checkouts(accepted: list[store.Entry], variants: dict[int, Variant]) -> dict[str, int]:
    """Write the accepted reservations (with their records); returns checkout id by reservation."""
    if not accepted:
        return {}
    minutes = timedelta(minutes=settings.CHECKOUT_RESERVATION_MINUTES)
    rows = []
    for e in accepted:
        v = variants[e.variant_id]
        price = e.unit_price_amount if e.unit_price_amount is not None else v.price_amount
        total = price * e.quantity
        rows.append(
            {
                "buyer_id": e.buyer_id,
                "shop_id": v.shop_id,
                "variant_id": v.pk,
                "deal_id": e.deal_id or None,
                "quantity": e.quantity,
                "unit_price": price,
                "total": total,
                "fee": platform_fee(total),
                "currency": v.currency,
                "address": e.address,
                "source": e.source,
                "source_ref": e.source_ref,
                "product_title": v.product.title,
                "variant_label": v.label,
                "sku": v.sku,
                "reservation_id": e.rid,
                "reserved_at": _at(e).isoformat(),
                "expires_at": (_at(e) + minutes).isoformat(),
            }
        )
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:  # the same connection and transaction
        cursor.execute(
            _WRITE_CHECKOUTS,
            {
                "rows": json.dumps(rows, separators=(",", ":")),
                "now": timezone.now(),
                "open": Checkout.Status.OPEN.value,
                "pending": Order.Status.PENDING_PAYMENT.value,
                "written": str(WRITTEN),
            },
        )
        return dict(cursor.fetchall())


def _record(rows: list[FlashReservation]) -> None:
    if not rows:
        return
    now = timezone.now()
    insert_rows(
        "orders_flashreservation",
        {
            "reservation_id": ("varchar", [r.reservation_id for r in rows]),
            "variant_id": ("bigint", [r.variant_id for r in rows]),
            "buyer_id": ("bigint", [r.buyer_id for r in rows]),
            "quantity": ("integer", [r.quantity for r in rows]),
            "deal_id": ("bigint", [r.deal_id for r in rows]),
            "status": ("varchar", [str(r.status) for r in rows]),
            "reason": ("varchar", [r.reason for r in rows]),
            "checkout_id": ("bigint", [r.checkout_id for r in rows]),
            "reserved_at": ("timestamptz", [r.reserved_at for r in rows]),
            "written_at": ("timestamptz", [now] * len(rows)),
        },
    )


def drain(*, consumer: str, max_batches: int = 1000, block_ms: int = 0) -> int:
    """Write what the stream holds now (bounded); returns how many reservations were handled."""
    store.ensure_group()
    handled = 0
    for _ in range(max_batches):
        entries = store.read_batch(
            consumer=consumer,
            count=settings.FLASH_WRITER_BATCH,
            block_ms=block_ms,
            reclaim_idle_ms=settings.FLASH_WRITER_RECLAIM_MS,
        )
        if not entries:
            break
        handled += len(write_batch(entries))
    return handled


def run(*, consumer: str, stop: threading.Event | None = None, block_ms: int = 200) -> None:
    """The writer process's loop (`manage.py flash_writer`): write batches until `stop`."""
    store.ensure_group()
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            entries = store.read_batch(
                consumer=consumer,
                count=settings.FLASH_WRITER_BATCH,
                block_ms=block_ms,
                reclaim_idle_ms=settings.FLASH_WRITER_RECLAIM_MS,
            )
            write_batch(entries)
        except Exception:  # a lost connection: the entries stay pending, taken again later
            logger.exception("flash writer batch failed")
            stop.wait(1.0)
