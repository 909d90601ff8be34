"""Load clients: wrk when it is installed (a C client, light on a 2-core machine that also
runs the server), else a Python asyncio client on aiohttp. Both hold `concurrency`
connections busy for `duration` seconds against one loopback URL and count as an error
every response that is not a 200 with the expected items."""

import asyncio
import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MAX_CONCURRENCY = 256
MAX_DURATION = 120.0
MAX_REQUESTS = 500_000


class BenchError(Exception):
    pass


@dataclass(frozen=True)
class Expect:
    items: int
    # A correct page here is byte-for-byte the same every time, so its length is a cheap check
    # that wrk can make on every response; None when two correct responses differed.
    body_length: int | None = None
    # HTML pages: the items are the occurrences of this marker (a JSON body otherwise).
    marker: bytes | None = None


@dataclass
class LoadResult:
    name: str
    url: str
    client: str
    concurrency: int
    seconds: float
    requests: int
    errors: int
    # (latency in ms, weight): every request from aiohttp; from wrk, its 1,000 quantiles
    # (0.1 % apart) each weighing requests/1000, so that runs can be merged.
    latencies: list[tuple[float, float]] = field(default_factory=list, repr=False)
    notes: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, pct: float) -> float:
        return weighted_percentile(self.latencies, pct)

    @property
    def p50_ms(self) -> float:
        return self.percentile(50)

    @property
    def p99_ms(self) -> float:
        return self.percentile(99)


def weighted_percentile(samples: list[tuple[float, float]], pct: float) -> float:
    """The smallest value with at least pct % of the total weight at or below it."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    target = pct / 100 * sum(w for _, w in ordered)
    running = 0.0
    for value, weight in ordered:
        running += weight
        if running >= target:
            return value
    return ordered[-1][0]


def merge(results: list[LoadResult]) -> LoadResult:
    """Several runs against the same URL as one: totals, and percentiles over all requests."""
    first = results[0]
    return LoadResult(
        name=first.name,
        url=first.url,
        client=first.client,
        concurrency=first.concurrency,
        seconds=sum(r.seconds for r in results),
        requests=sum(r.requests for r in results),
        errors=sum(r.errors for r in results),
        latencies=[x for r in results for x in r.latencies],
        notes=sorted({n for r in results for n in r.notes}),
    )


def _check_loopback(url: str) -> None:
    if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise BenchError(f"refusing to load a non-loopback URL: {url}")


def count_items(body: bytes, marker: bytes | None = None) -> int | None:
    if marker is not None:
        return body.count(marker)
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict):
        data = data.get("results")
    return len(data) if isinstance(data, list) else None


def _get(url: str, headers: dict | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Accept": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def item_ids(url: str, headers: dict | None = None) -> list:
    status, body = _get(url, headers)
    data = json.loads(body) if status == 200 else {}
    return [item.get("id") for item in data.get("results", [])]


def expect_for(
    url: str, *, items: int, headers: dict | None = None, marker: bytes | None = None
) -> Expect:
    """Fetch the page twice, check it is a 200 with `items` items, learn its length."""
    _check_loopback(url)
    lengths = set()
    for _ in range(2):
        status, body = _get(url, headers)
        if status != 200:
            raise BenchError(f"GET {url} answered {status}: {body[:300]!r}")
        got = count_items(body, marker)
        if got != items:
            raise BenchError(f"GET {url} gave {got} items, expected {items}: {body[:300]!r}")
        lengths.add(len(body))
    length = lengths.pop() if len(lengths) == 1 else None
    return Expect(items=items, body_length=length, marker=marker)


def available_clients() -> list[str]:
    return (["wrk"] if shutil.which("wrk") else []) + ["aiohttp"]


def run_load(
    name: str,
    url: str,
    *,
    expect: Expect,
    client: str,
    concurrency: int,
    duration: float,
    headers: dict | None = None,
) -> LoadResult:
    """`headers` (e.g. Authorization for a signed-in page) go with every request."""
    _check_loopback(url)
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise BenchError(f"concurrency must be 1..{MAX_CONCURRENCY}")
    if not 0 < duration <= MAX_DURATION:
        raise BenchError(f"duration must be in (0, {MAX_DURATION:.0f}] seconds")
    if client == "wrk":
        return _wrk(
            name, url, expect=expect, concurrency=concurrency, duration=duration, headers=headers
        )
    if client == "aiohttp":
        return _aiohttp(
            name, url, expect=expect, concurrency=concurrency, duration=duration, headers=headers
        )
    raise BenchError(f"unknown client {client!r}")


# --- wrk -------------------------------------------------------------------------------------

_WRK_SCRIPT = """
wrk.headers["Accept"] = "application/json"
local expected_length = %(body_length)d
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
  if status ~= 200 or (expected_length > 0 and #body ~= expected_length) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local total_bad = 0
  for _, t in ipairs(threads) do total_bad = total_bad + t:get("bad") end
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"bad\\": %%d, " ..
    "\\"connect\\": %%d, \\"read\\": %%d, \\"write\\": %%d, \\"timeout\\": %%d, " ..
    "\\"quantiles_us\\": [",
    summary.requests, summary.duration, total_bad, e.connect, e.read, e.write, e.timeout))
  for i = 1, 1000 do
    io.write(string.format(i == 1 and "%%d" or ", %%d", latency:percentile(i / 10)))
  end
  io.write("]}\\n")
end
"""


def _wrk(
    name: str,
    url: str,
    *,
    expect: Expect,
    concurrency: int,
    duration: float,
    headers: dict | None = None,
) -> LoadResult:
    notes = []
    if expect.body_length is None:
        notes.append("wrk checked status only (response length varies)")
    script = _WRK_SCRIPT % {"body_length": expect.body_length or 0}
    script += "".join(
        f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n" for k, v in (headers or {}).items()
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-") as f:
        f.write(script)
        f.flush()
        cmd = [
            "wrk",
            "--threads",
            "1",
            "--connections",
            str(concurrency),
            "--duration",
            f"{max(1, round(duration))}s",
            "--timeout",
            "10s",
            "--script",
            f.name,
            url,
        ]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=duration + 60, check=False
        )
    match = re.search(r"^BENCH_RESULT (\{.*\})$", proc.stdout, re.MULTILINE)
    if proc.returncode != 0 or not match:
        raise BenchError(f"wrk failed ({proc.returncode}): {proc.stdout[-800:]}{proc.stderr}")
    r = json.loads(match.group(1))
    io_errors = r["connect"] + r["read"] + r["write"] + r["timeout"]
    if io_errors:
        notes.append(
            f"socket errors: connect {r['connect']}, read {r['read']}, "
            f"write {r['write']}, timeout {r['timeout']}"
        )
    return LoadResult(
        name=name,
        url=url,
        client="wrk",
        concurrency=concurrency,
        seconds=r["duration_us"] / 1e6,
        requests=r["requests"],
        errors=r["bad"] + io_errors,
        latencies=[(q / 1000, r["requests"] / 1000) for q in r["quantiles_us"]],
        notes=notes,
    )


# --- aiohttp ---------------------------------------------------------------------------------


async def _aiohttp_run(
    url: str, *, expect: Expect, concurrency: int, duration: float, headers: dict | None = None
):
    import aiohttp

    latencies: list[float] = []
    errors: list[str] = []
    started = 0
    timeout = aiohttp.ClientTimeout(total=10)
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Accept": "application/json", **(headers or {})}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as s:
        start = time.perf_counter()
        deadline = start + duration

        async def worker():
            nonlocal started
            while started < MAX_REQUESTS:
                t0 = time.perf_counter()
                if t0 >= deadline:
                    return
                started += 1
                try:
                    async with s.get(url) as resp:
                        status, body = resp.status, await resp.read()
                    if status != 200:
                        errors.append(f"status {status}")
                    elif (got := count_items(body, expect.marker)) != expect.items:
                        errors.append(f"wrong item count {got}")
                except (aiohttp.ClientError, TimeoutError) as exc:
                    errors.append(type(exc).__name__)
                done = time.perf_counter()
                if done <= deadline:  # like wrk: what is still in flight at the end is dropped
                    latencies.append(done - t0)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = min(duration, time.perf_counter() - start)
    return latencies, errors, elapsed


def _aiohttp(
    name: str,
    url: str,
    *,
    expect: Expect,
    concurrency: int,
    duration: float,
    headers: dict | None = None,
) -> LoadResult:
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
        client = "aiohttp+uvloop"
    except ImportError:
        runner = asyncio.Runner()
        client = "aiohttp"
    with runner:
        latencies, errors, elapsed = runner.run(
            _aiohttp_run(
                url, expect=expect, concurrency=concurrency, duration=duration, headers=headers
            )
        )
    notes = [f"e.g. {', '.join(sorted(set(errors))[:3])}"] if errors else []
    return LoadResult(
        name=name,
        url=url,
        client=client,
        concurrency=concurrency,
        seconds=elapsed,
        requests=len(latencies),
        errors=len(errors),
        latencies=[(t * 1000, 1.0) for t in latencies],
        notes=notes,
    )
