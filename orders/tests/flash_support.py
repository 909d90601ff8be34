"""Helpers of the flash-sale tests (orders and live): buyers, a crowd of real threads, the
batch writer running beside them, and Redis keys of the test's own."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from django.contrib.auth.hashers import make_password
from django.db import connection

from orders.checkout.services import LineRequest
from orders.flash import services as flash
from orders.flash import writer
from shopfeed.accounts.models import User
from shopfeed.errors import ShopFeedError

from .factories import ADDRESS


def buyers_for(n: int) -> list[User]:
    unusable = make_password(None)
    return User.objects.bulk_create(
        User(username=f"flashbuyer{uuid.uuid4().hex[:10]}", handle=f"fb{uuid.uuid4().hex[:12]}",
             password=unusable)
        for _ in range(n)
    )  # fmt: skip


def race(buyers, variant_id: int = 0, quantity: int = 1, buy=None):
    """Every buyer reserves at the same instant (real threads), or calls `buy(buyer)`; returns
    what each got (a Reservation, a Checkout) or the code of the error it was told."""
    barrier = threading.Barrier(len(buyers))

    def attempt(buyer):
        try:
            barrier.wait()
            if buy is not None:
                return buy(buyer)
            return flash.reserve(
                buyer=buyer, line=LineRequest(variant_id, quantity), address=ADDRESS
            )
        except ShopFeedError as exc:
            return exc.code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(buyers)) as pool:
        return list(pool.map(attempt, buyers))


class WriterThread:
    """The batch writer running beside the buyers, as the flash_writer process would."""

    def __init__(self):
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            writer.run(consumer="test-writer", stop=self.stop, block_ms=50)
        finally:
            connection.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=10)
