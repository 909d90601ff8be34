"""The server side of a bench: the bench database and a gunicorn started and always stopped."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # load goes to loopback only
SETTINGS = "bench.settings"


def ensure_database() -> None:
    """Create the bench database if it is missing (connecting to the `postgres` database)."""
    import psycopg
    from django.conf import settings
    from psycopg import sql

    db = settings.DATABASES["default"]
    params = {
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]])
        if exists.fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
            print(f"created database {db['NAME']}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _wait_ready(proc: subprocess.Popen, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with code {proc.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers; whether with 200 is for the bench to judge
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer {url} within {timeout:.0f} s")


@contextlib.contextmanager
def gunicorn(*, workers: int = 2, ready_path: str = "/") -> Iterator[str]:
    """Serve the project on gunicorn sync workers, as production does; yield the base URL.

    The server runs in its own process group and is stopped on the way out, whatever happened.
    """
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log", delete=False)  # noqa: SIM115 - closed below
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "shopfeed.wsgi:application",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--bind",
        f"{HOST}:{port}",
        "--log-level",
        "warning",
    ]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": SETTINGS}
    proc = subprocess.Popen(
        cmd, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        _wait_ready(proc, base_url + ready_path, timeout=30)
        yield base_url
    except BaseException:
        log.flush()
        tail = Path(log.name).read_text(errors="replace")[-3000:]
        if tail.strip():
            print(f"--- gunicorn log ({log.name}) ---\n{tail}", file=sys.stderr)
        raise
    finally:
        _stop(proc)
        log.close()
        with contextlib.suppress(OSError):
            os.unlink(log.name)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)  # gunicorn's graceful stop of master and workers
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        # Only the group this bench started (start_new_session=True made proc its leader).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
