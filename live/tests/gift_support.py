"""The gift writer beside the room tests: with Redis, a room's `gift.send` is acknowledged
only once the batch writer (gifts.sending.writer) has committed it, so the room tests run one,
on the key prefix the room server uses."""

import threading

import pytest
from django.db import connection

# The shared room server (live/tests/conftest.py) runs with the default GIFTS_KEY_PREFIX.
SERVER_PREFIX = "gifts:"


def clear_gift_keys(prefix: str) -> None:
    from gifts.sending import store

    r = store.client()
    keys = list(r.scan_iter(f"{prefix}*", count=1000))
    if keys:
        r.delete(*keys)


class WriterThread:
    """The batch writer in a thread of the test process (`manage.py gift_writer` runs the same
    loop in a process of its own; test_gift_writer.py runs that one)."""

    def __init__(self):
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        from gifts.sending import writer

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


@pytest.fixture
def gift_writer(redis_url, settings, transactional_db):
    settings.GIFTS_REDIS_URL = redis_url
    settings.GIFTS_KEY_PREFIX = SERVER_PREFIX
    clear_gift_keys(SERVER_PREFIX)
    with WriterThread() as writer:
        yield writer
    clear_gift_keys(SERVER_PREFIX)
