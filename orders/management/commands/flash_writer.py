"""`manage.py flash_writer`: the flash sale's batch writer (orders.flash.writer). With
`--processes N` it runs N writer processes sharing the stream's consumer group (a long sale
brings reservations faster than one writes them) and starts again any that dies; its
unacknowledged entries are taken over by the others meanwhile. SIGTERM / Ctrl-C stop every
writer between batches."""

import multiprocessing as mp
import os
import signal
import socket
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from orders.flash import services, writer


def _run_writer(name: str, parent_pid: int) -> None:
    # A child of the fork: its own database connection (none is open at the fork) and Redis
    # connections (redis-py's pools start afresh in a new process). It stops between batches
    # on SIGTERM (the parent sends it) or when the parent is gone. No lock is shared with the
    # parent: a process killed while holding one would leave the others waiting for good.
    stop = threading.Event()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which says when
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def watch() -> None:
        while not stop.wait(1.0):
            if os.getppid() != parent_pid:
                stop.set()

    threading.Thread(target=watch, daemon=True).start()
    try:
        writer.run(consumer=name, stop=stop)
    finally:
        connections.close_all()


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
        parser.add_argument(
            "--processes",
            type=int,
            default=settings.FLASH_WRITER_PROCESSES,
            help="writer processes sharing the stream (default: FLASH_WRITER_PROCESSES)",
        )

    def handle(self, *args, **options):
        if not services.enabled():
            raise CommandError("Flash sales need Redis: set REDIS_URL or FLASH_REDIS_URL.")
        processes = options["processes"]
        if not 1 <= processes <= 64:
            raise CommandError("--processes must be between 1 and 64.")
        name = options["name"] or f"{socket.gethostname()}-{os.getpid()}"
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        if options["reconcile"]:
            services.reconcile()
        if processes == 1:
            self._say(f"flash writer {name} started")
            writer.run(consumer=name, stop=stop)
        else:
            self._supervise(name, processes, stop)
        self._say(f"flash writer {name} stopped")

    def _supervise(self, name: str, processes: int, stop: threading.Event) -> None:
        ctx = mp.get_context("fork")
        connections.close_all()  # never share a database connection across a fork

        def start(n: int):
            proc = ctx.Process(target=_run_writer, args=(f"{name}-{n}", os.getpid()), daemon=True)
            proc.start()
            return proc

        procs = [start(n) for n in range(processes)]
        self._say(f"flash writer {name} started: {processes} processes")
        while not stop.wait(0.5):
            for n, proc in enumerate(procs):
                if not proc.is_alive():
                    self.stderr.write(f"flash writer {name}-{n} exited ({proc.exitcode}); again")
                    procs[n] = start(n)
        for proc in procs:
            proc.terminate()  # SIGTERM: each stops after the batch it is writing
        deadline = time.monotonic() + 30
        for proc in procs:
            proc.join(max(0.1, deadline - time.monotonic()))
            if proc.is_alive():  # stuck: a kill is safe (its entries are taken over)
                proc.kill()
                proc.join(5)

    def _say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()
