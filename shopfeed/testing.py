"""Helpers shared by every app's tests: real processes (marked `services`), localstripe,
waiting for another process, and on-commit work in tests that never commit."""

import json
import logging
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections

T = TypeVar("T")

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

    def tasks_succeeded(self, task_name: str) -> int:
        """How many runs of a task this Celery worker logged as succeeded."""
        return sum(
            f"{task_name}[" in line and " succeeded in " in line
            for line in self.output().splitlines()
        )

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


def start_celery_worker(
    *, broker_url: str, queue: str, log_path: Path, **env_extra: str
) -> Process:
    env = child_env(CELERY_BROKER_URL=broker_url, CELERY_QUEUE=queue, **env_extra)
    args = [
        sys.executable, "-m", "celery", "-A", "shopfeed", "worker", "--pool=solo",
        "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
        "-Q", queue, "-n", f"{queue}@%h",
    ]  # fmt: skip
    worker = Process(args, env, log_path)
    worker.wait_for_output("ready.", timeout=60)
    return worker


def websocket_communicator(application, path: str, headers=None):
    """Channels' WebsocketCommunicator, with its test-time no-op of close_old_connections
    stretched over `wait()` too.

    Channels stops an in-process consumer from closing the test thread's database connection
    only while the communicator sends and receives; `disconnect()` ends in `wait()`, where the
    consumer's disconnect handler runs and checks that connection unguarded. Left open by an
    earlier database test, it is then touched from a test without database access, which
    fails (or, inside a test transaction, closes it). Here the guard covers the whole socket.
    """
    from unittest import mock

    from channels.testing import WebsocketCommunicator
    from channels.testing.application import no_op

    class Communicator(WebsocketCommunicator):
        async def wait(self, timeout=1):
            with mock.patch("channels.db.close_old_connections", no_op):
                return await super().wait(timeout)

    return Communicator(application, path, headers)


# What the user factories set (shopfeed/accounts/tests/factories.py) and a card that pays.
TEST_PASSWORD = "pw-Secret-123"  # noqa: S105 - test users only
TEST_CARD = "4242424242424242"


def phone_page(browser, viewport: dict, **context_options):
    """A page in a context of its own at `viewport`, 15 s timeouts; returns the page and the
    list its uncaught script errors are collected in."""
    page = browser.new_context(viewport=viewport, **context_options).new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page, errors


def log_in_page(page, base_url: str, username: str, *, submit: str = "button[type=submit]"):
    """Sign in through the login form, as a person would."""
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click(submit)
    page.wait_for_load_state()


def fill_card_form(page, number: str = TEST_CARD) -> None:
    """The pay page's card form; localstripe's Stripe.js mounts plain inputs named by their
    placeholders."""
    card = page.locator("#card-element")
    card.locator("input[placeholder=number]").fill(number)
    card.locator("input[placeholder=exp_month]").fill("12")
    card.locator("input[placeholder=exp_year]").fill("34")
    card.locator("input[placeholder=cvc]").fill("123")
    card.locator("input[placeholder=postal_code]").fill("12345")


def fill_address_form(page) -> None:
    """The checkout's shipping address (then "Continue to payment")."""
    page.fill("#id_full_name", "Sam Shopper")
    page.fill("#id_line1", "1 Main St")
    page.fill("#id_city", "Springfield")
    page.fill("#id_region", "NY")
    page.fill("#id_postal_code", "12345")
    page.fill("#id_country", "US")


def close_context_local_connections() -> None:
    """After a browser test: while Playwright's loop runs, Django's connections are
    context-local; close the ones the test body opened, or the test database cannot be
    dropped at the end."""
    connections.close_all()


@contextmanager
def asgi_site(log_path: Path, **env: str) -> Iterator[str]:
    """uvicorn serving shopfeed.asgi (HTTP and WebSocket) on the test database, at a free
    loopback port, with `env` on top of the test's own; yields its base URL."""
    port = free_port()
    args = [
        sys.executable, "-m", "uvicorn", "shopfeed.asgi:application", "--host", "127.0.0.1",
        "--port", str(port), "--lifespan", "off", "--log-level", "warning",
    ]  # fmt: skip
    process = Process(args, child_env(**env), log_path)
    try:
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


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


def localstripe_call(path: str, data: dict | None = None, *, method: str = "POST") -> dict:
    """A raw call to the Stripe API at STRIPE_API_BASE (localstripe), as a browser or Stripe's
    dashboard would make it: for what our code never asks Stripe itself."""
    body = urllib.parse.urlencode(data or {}).encode() if method == "POST" else None
    request = urllib.request.Request(  # noqa: S310 - loopback localstripe
        f"{settings.STRIPE_API_BASE}{path}",
        data=body,
        method=method,
        headers={"Authorization": f"Bearer {settings.STRIPE_SECRET_KEY}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        text = response.read().decode()
    return json.loads(text) if text else {}


def wait_until(
    predicate: Callable[[], T], *, timeout: float = 20, interval: float = 0.1, what: str = ""
) -> T:
    """Poll until `predicate()` is truthy (another process is doing the work); return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"not true within {timeout} s: {what or predicate.__doc__ or predicate}")


@contextmanager
def as_if_committed(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Run, once, what the block schedules with transaction.on_commit, when it ends.

    A test inside pytest-django's transaction never commits, so a service's after-commit work
    (emails, signals, tasks) would never run; this treats the block as its own committed
    transaction. Unlike captureOnCommitCallbacks, the callbacks are taken off the queue, so an
    enclosing capture does not run them a second time. Outside a transaction (transactional
    tests) they already ran at each commit.
    """
    conn = connections[using]
    if not conn.in_atomic_block:
        yield
        return
    start = len(conn.run_on_commit)
    yield
    while len(conn.run_on_commit) > start:
        pending = conn.run_on_commit[start:]
        del conn.run_on_commit[start:]
        for _sids, callback, robust in pending:
            if not robust:
                callback()
                continue
            try:
                callback()
            except Exception:  # as Django does for robust callbacks at a real commit
                logging.getLogger("django.db.backends.base").exception(
                    "robust on-commit callback %s failed", callback
                )
