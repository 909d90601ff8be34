"""The shopper pages under concurrent load, beside a trivial Django view in the same server.

Seeds the shopping-tab bench's creators (shops, products, variants, images; ANALYZE after),
serves the project on gunicorn with 2 sync workers on PostgreSQL, and loads the home page
(the video feed's shell), the creator profile with its shopping tab, and a product page as an
anonymous shopper would, in alternating rounds with the trivial view (bench/urls.py). Each
page is checked on every response (status and a marker counted in the HTML).
"""

import os
from statistics import median

from bench.load import LoadResult, expect_for, merge, run_load
from bench.server import gunicorn
from bench.shopping_tab import HANDLE, PAGE_SIZE, seed

PROFILE_PAGE = 24  # shops.views.PAGE_SIZE

TARGETS = {
    # name: (path, marker, how many times the marker is on a right page)
    "home page (feed)": ("/", b'id="feed-root"', 1),
    "creator profile": (f"/@{HANDLE}/", b'class="product-card"', PROFILE_PAGE),
    "product page": (f"/@{HANDLE}/products/product-7/", b'id="buy-form"', 1),
    "trivial view": ("/bench/trivial/", b"class=trivial", 1),
}
YARDSTICK = "trivial view"


def run(
    *, client: str, concurrency: int, duration: float, warmup: float, rounds: int, products: int
):
    """Each round loads every page once, the order turned around every other round, so that
    whatever else the machine does weighs on pages and yardstick alike."""
    seed(products=max(products, PAGE_SIZE, PROFILE_PAGE))  # ANALYZE included
    names = list(TARGETS)
    runs: dict[str, list[LoadResult]] = {name: [] for name in names}
    with gunicorn(workers=2, ready_path=TARGETS[YARDSTICK][0]) as base_url:
        urls = {name: base_url + path for name, (path, _, _) in TARGETS.items()}
        expects = {
            name: expect_for(urls[name], items=count, marker=marker)
            for name, (_, marker, count) in TARGETS.items()
        }

        def load(name: str, seconds: float) -> LoadResult:
            return run_load(
                name,
                urls[name],
                expect=expects[name],
                client=client,
                concurrency=concurrency,
                duration=seconds,
            )

        for name in names:  # warm every page (imports, connections, caches) first
            load(name, warmup)
        for n in range(rounds):
            for name in names if n % 2 == 0 else reversed(names):
                runs[name].append(load(name, duration / rounds))
        for name, (_, marker, count) in TARGETS.items():  # still right after the load?
            expect_for(urls[name], items=count, marker=marker)
    merged = {name: merge(runs[name]) for name in names}
    base = merged[YARDSTICK]
    notes = []
    for name in names:
        if name == YARDSTICK:
            continue
        per_round = [p.rps / t.rps for p, t in zip(runs[name], runs[YARDSTICK], strict=True)]
        notes.append(
            f"{name} / trivial view: {merged[name].rps / base.rps:.3f}x requests/s "
            f"(median of rounds {median(per_round):.3f}x, "
            f"range {min(per_round):.3f}-{max(per_round):.3f}x), "
            f"p50 {merged[name].p50_ms:.1f} ms vs {base.p50_ms:.1f} ms (target >= 0.3x)"
        )
    notes.append(
        "pages loaded as an anonymous shopper; nothing is written during the load; "
        f"load average {os.getloadavg()[0]:.2f} at the end"
    )
    return list(merged.values()), notes
