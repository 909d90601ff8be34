"""`manage.py flash_writer`: the flash sale's batch writer (orders.flash.writer), one process;
run one or more. SIGTERM / Ctrl-C stop it between batches."""

import os
import signal
import socket
import threading

from django.core.management.base import BaseCommand, CommandError

from orders.flash import services, writer


class Command(BaseCommand):
    help = "Write flash-sale reservations from Redis to PostgreSQL, in batches, until stopped."

    def add_arguments(self, parser):
        parser.add_argument(
            "--name",
            default="",
            help="consumer name in the Redis group (default: host-pid)",
        )
        parser.add_argument(
            "--reconcile",
            action="store_true",
            help="bring Redis's counts back to PostgreSQL's before starting",
        )

    def handle(self, *args, **options):
        if not services.enabled():
            raise CommandError("Flash sales need Redis: set REDIS_URL or FLASH_REDIS_URL.")
        name = options["name"] or f"{socket.gethostname()}-{os.getpid()}"
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        if options["reconcile"]:
            services.reconcile()
        self.stdout.write(f"flash writer {name} started", ending="\n")
        self.stdout.flush()
        writer.run(consumer=name, stop=stop)
        self.stdout.write(f"flash writer {name} stopped")
