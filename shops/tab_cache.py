"""The shopping tab API served from the cache (Redis in production) behind a version number
per shop: every write that changes a card (product, variant, price, stock, image, tab order,
shop status) moves the shop's version once it commits, so the next request reads fresh rows
and no request ever serves a page older than the last committed change.

Writes reach `changed()` two ways: saves and deletes of the card's models through the
receivers below (services, the admin), and explicit calls where rows change by queryset
update or bulk write (stock reservations in orders, the flash writer, the CSV import,
thumbnails, image and tab order).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from .models import Product, ProductImage, Shop, Variant


def _key(*parts) -> str:
    return ":".join([settings.SHOPPING_TAB_CACHE_PREFIX, *map(str, parts)])


def changed(shop_ids: int | Iterable[int]) -> None:
    """A card of these shops changed: their tabs are read afresh once this commits."""
    ids = {shop_ids} if isinstance(shop_ids, int) else set(shop_ids)
    if ids:
        # Now, so that this transaction's own next read misses too; and after the commit,
        # since a request meanwhile may have cached the rows as they were before it.
        _bump(ids)
        transaction.on_commit(lambda: _bump(ids), robust=True)


def _bump(shop_ids: set[int]) -> None:
    version = time.time_ns()
    cache.set_many({_key("v", sid): version for sid in shop_ids}, timeout=None)


def shop_id_for(handle: str) -> int | None:
    return cache.get(_key("h", handle.lower()))


def remember_shop(handle: str, shop_id: int) -> None:
    # A handle that moves to another user is followed within this time.
    cache.set(_key("h", handle.lower()), shop_id, timeout=settings.SHOPPING_TAB_HANDLE_SECONDS)


def page_key(*, shop_id: int, host: str, path: str) -> str:
    version = cache.get(_key("v", shop_id))
    if version is None:  # never changed since the cache was emptied: start counting
        cache.add(_key("v", shop_id), time.time_ns(), timeout=None)
        version = cache.get(_key("v", shop_id))
    digest = hashlib.sha256(f"{host}\n{path}".encode()).hexdigest()[:32]
    return _key("p", shop_id, version, digest)


def get_page(key: str):
    return cache.get(key)


def put_page(key: str, data) -> None:
    cache.set(key, data, timeout=settings.SHOPPING_TAB_CACHE_SECONDS)


# --- saves and deletes of what a card shows ----------------------------------------------------


def _on_write(sender, instance, **kwargs) -> None:
    if isinstance(instance, Shop):
        changed(instance.pk)
    elif isinstance(instance, Product | Variant):
        changed(instance.shop_id)
    elif isinstance(instance, ProductImage):
        shop_id = Product.objects.filter(pk=instance.product_id).values_list("shop_id", flat=True)
        changed(list(shop_id))


def connect() -> None:
    """shops/apps.py calls this at startup."""
    for model in (Shop, Product, Variant, ProductImage):
        post_save.connect(_on_write, sender=model, dispatch_uid=f"tab_cache.save.{model.__name__}")
        post_delete.connect(
            _on_write, sender=model, dispatch_uid=f"tab_cache.delete.{model.__name__}"
        )
