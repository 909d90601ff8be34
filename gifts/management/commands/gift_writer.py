"""`manage.py gift_writer`: the room gift sends' batch writer (gifts.sending.writer), one
process; run one or more (they share the stream's consumer group). SIGTERM / Ctrl-C stop it
between batches."""

import os
import signal
import socket
import threading

from django.core.management.base import BaseCommand, CommandError

from gifts.sending import store, writer


class Command(BaseCommand):
    help = "Write room gift sends from Redis to PostgreSQL, in batches, until stopped."

    def add_arguments(self, parser):
        parser.add_argument(
            "--name", default="", help="consumer name in the Redis group (default: host-pid)"
        )

    def handle(self, *args, **options):
        if not store.enabled():
            raise CommandError("The gift writer needs Redis: set REDIS_URL or GIFTS_REDIS_URL.")
        name = options["name"] or f"{socket.gethostname()}-{os.getpid()}"
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write(f"gift writer {name} started")
        self.stdout.flush()
        writer.run(consumer=name, stop=stop)
        self.stdout.write(f"gift writer {name} stopped")
