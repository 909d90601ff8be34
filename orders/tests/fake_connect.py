"""A tiny Stripe-compatible Connect transfers server, because localstripe has no /v1/transfers.

It implements what our exactly-once claim rests on, the way Stripe documents it:
- POST /v1/transfers creates a transfer (form-encoded amount, currency, destination,
  metadata[...]); GET /v1/transfers/<id> reads one back.
- Idempotency: a request carrying an `Idempotency-Key` already seen gets the stored first
  response again (errors included) with `Idempotent-Replayed: true` and creates nothing;
  the same key with different parameters is refused with 400 (idempotency_error).
- `Authorization: Bearer sk_...` is required; errors are Stripe's JSON error shape with
  `Stripe-Should-Retry: false` on refusals, as Stripe sends.
Every request's method, path, headers and form body is recorded for the tests to assert on.

Knobs for tests: `refuse_destinations` (400 "No such destination"), `lose_responses = n`
(do the work, then drop the connection without answering, n times: the response Stripe sent
but we never got).

For development, `--upstream` forwards every other path to localstripe, so pointing
STRIPE_API_BASE at this server gives payments (localstripe) and transfers (here) together:
    python -m orders.tests.fake_connect --port 8421 --upstream http://127.0.0.1:8420
"""

import argparse
import http.client
import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

# The secret key tests give the SDK when it talks to this server (any sk_... is accepted).
SECRET_KEY = "sk_test_payouts"


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]
    replayed: bool = False


class FakeConnect:
    def __init__(self, *, upstream: str | None = None):
        self.upstream = upstream
        self.requests: list[RecordedRequest] = []
        self.transfers: dict[str, dict] = {}
        self.refuse_destinations: set[str] = set()
        self.lose_responses = 0
        self._idempotent: dict[str, tuple[dict, int, dict]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def __repr__(self) -> str:
        return f"FakeConnect({len(self.transfers)} transfers, {len(self.requests)} requests)"

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self, *, host: str = "127.0.0.1", port: int = 0) -> str:
        fake = self

        class Handler(_Handler):
            server_state = fake

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def reset(self) -> None:
        """Forget everything (Stripe's idempotency window closing, for tests that reuse ids)."""
        with self._lock:
            self.requests.clear()
            self.transfers.clear()
            self._idempotent.clear()
            self.refuse_destinations.clear()
            self.lose_responses = 0

    # --- what the tests read -----------------------------------------------------------------

    def transfer_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == "/v1/transfers"]

    # --- the API -----------------------------------------------------------------------------

    def handle(self, rec: RecordedRequest):
        """Returns (status, body dict, extra headers, drop_connection)."""
        method, path, headers, form = rec.method, rec.path, rec.headers, rec.form
        auth = headers.get("authorization", "")
        if not (auth.startswith("Bearer sk_") and len(auth) > len("Bearer sk_")):
            return 401, _error("Invalid API Key provided.", "invalid_request_error"), {}, False
        if method == "GET" and path.startswith("/v1/transfers/"):
            with self._lock:
                transfer = self.transfers.get(path.rsplit("/", 1)[1])
            if transfer is None:
                return 404, _error("No such transfer.", "invalid_request_error"), {}, False
            return 200, transfer, {}, False
        if method != "POST" or path != "/v1/transfers":
            return 404, _error(f"Unrecognized request URL ({method}: {path}).", "x"), {}, False
        key = headers.get("idempotency-key")
        with self._lock:
            if key and key in self._idempotent:
                first_form, status, body = self._idempotent[key]
                rec.replayed = True
                if first_form != form:
                    return (
                        400,
                        _error(
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with.",
                            "idempotency_error",
                        ),
                        {},
                        False,
                    )
                return status, body, {"Idempotent-Replayed": "true"}, self._lose()
            status, body = self._create_transfer(form)
            if key:
                self._idempotent[key] = (form, status, body)
            return status, body, {}, self._lose()

    def _lose(self) -> bool:
        if self.lose_responses > 0:
            self.lose_responses -= 1
            return True
        return False

    def _create_transfer(self, form: dict[str, str]) -> tuple[int, dict]:
        amount, currency, dest = (
            form.get("amount", ""),
            form.get("currency", ""),
            form.get("destination", ""),
        )
        if not amount.isdigit() or int(amount) < 1:
            return 400, _error("Invalid positive integer", "invalid_request_error", "amount")
        if len(currency) != 3:
            return 400, _error("Invalid currency", "invalid_request_error", "currency")
        if not dest.startswith("acct_") or dest in self.refuse_destinations:
            return 400, _error(
                f"No such destination: '{dest}'", "invalid_request_error", "destination"
            )
        transfer = {
            "id": f"tr_{secrets.token_hex(12)}",
            "object": "transfer",
            "amount": int(amount),
            "amount_reversed": 0,
            "currency": currency,
            "created": int(time.time()),
            "destination": dest,
            "livemode": False,
            "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
            "reversed": False,
            "transfer_group": form.get("transfer_group"),
        }
        self.transfers[transfer["id"]] = transfer
        return 200, transfer


def _error(message: str, type_: str, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param}}


class _Handler(BaseHTTPRequestHandler):
    server_state: FakeConnect

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_DELETE(self):
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        fake = self.server_state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        if fake.upstream and not path.startswith("/v1/transfers"):
            return self._forward(method, raw)
        headers = {k.lower(): v for k, v in self.headers.items()}
        form = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        rec = RecordedRequest(method, path, headers, form)
        with fake._lock:
            fake.requests.append(rec)
        status, body, extra, drop = fake.handle(rec)
        if drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Request-Id", f"req_{secrets.token_hex(8)}")
        if status >= 400:
            self.send_header("Stripe-Should-Retry", "false")
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    def _forward(self, method: str, raw: bytes) -> None:
        up = urlsplit(self.server_state.upstream)
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        conn.request(method, self.path, body=raw or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8421)
    parser.add_argument("--upstream", help="forward other paths here (localstripe)")
    args = parser.parse_args()
    fake = FakeConnect(upstream=args.upstream)
    print(f"fake Connect transfers on {fake.start(host=args.host, port=args.port)}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
