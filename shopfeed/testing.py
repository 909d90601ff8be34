"""Helpers for tests that start real processes (marked `services`)."""

import os
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

BASE_DIR = Path(__file__).resolve().parent.parent


def database_url_for_tests() -> str:
    """A DATABASE_URL pointing at the test database this process is using."""
    s = connection.settings_dict
    if connection.vendor != "postgresql":
        raise RuntimeError("a second process can only share a PostgreSQL test database")
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    # SHOPFEED_SERVER is set by importing shopfeed.asgi; each child says what it is itself.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PYTEST_") and k != "SHOPFEED_SERVER"
    }
    env.update(
        DJANGO_SETTINGS_MODULE="shopfeed.settings",
        DATABASE_URL=database_url_for_tests(),
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Process:
    """A child process whose output is kept in a file, stopped on exit."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            args, cwd=BASE_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, needle: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.output():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"{needle!r} not seen; output:\n{self.output()[-3000:]}")

    def stop(self, timeout: float = 10) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def start_celery_worker(*, broker_url: str, queue: str, log_path: Path) -> Process:
    env = child_env(CELERY_BROKER_URL=broker_url, CELERY_QUEUE=queue)
    args = [
        sys.executable, "-m", "celery", "-A", "shopfeed", "worker", "--pool=solo",
        "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
        "-Q", queue, "-n", f"{queue}@%h",
    ]  # fmt: skip
    worker = Process(args, env, log_path)
    worker.wait_for_output("ready.", timeout=60)
    return worker


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


def start_localstripe(*, log_path: Path) -> tuple[Process, str]:
    """localstripe on a free loopback port, empty; returns the process and its base URL."""
    port = free_port()
    exe = Path(sys.executable).with_name("localstripe")
    proc = Process([str(exe), "--port", str(port), "--from-scratch"], dict(os.environ), log_path)
    wait_for_port(port)
    return proc, f"http://127.0.0.1:{port}"


def watch_csp(page) -> list[str]:
    """Collect a Playwright page's Content-Security-Policy violations as they happen.

    Both what the browser prints to the console ("Refused to ... Content Security Policy") and
    the page's `securitypolicyviolation` events (read with `csp_violations`), which also catch
    reports that never reach the console.
    """
    seen: list[str] = []

    def on_console(message):
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            seen.append(f"console: {message.text}")

    page.on("console", on_console)
    page.add_init_script(
        "window.__csp = [];"
        "document.addEventListener('securitypolicyviolation', e => window.__csp.push("
        "e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile"
        " + ':' + e.lineNumber));"
    )
    return seen


def csp_violations(page, seen: list[str]) -> list[str]:
    """What watch_csp saw, plus the current document's violation events."""
    return [*seen, *(f"event: {v}" for v in page.evaluate("window.__csp || []"))]
