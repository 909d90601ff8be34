"""What each app adds to "download my data" and "delete my account" (GDPR Art. 15, 17, 20).

accounts sits at the bottom: the apps above it register here at startup (AppConfig.ready).

- An exporter `(user) -> list[dict]` returns one section of the archive: only the user's own
  rows, as JSON-ready dicts.
- An eraser `(user) -> None` runs inside the deletion's transaction before the generic step,
  for what that step cannot know: files in storage, personal data inside rows that are kept
  (an order's shipping address), a shop to close.
After the erasers, every row of every table that points at the user with CASCADE is deleted
and SET_NULL references are cleared (as deleting the user would); PROTECT references (orders,
checkouts, ledger accounts, a seller's shop, live sessions: the books must still balance)
keep pointing at the user row, which stays, stripped of everything personal.
"""

from __future__ import annotations

from collections.abc import Callable

Exporter = Callable[..., list[dict]]
Eraser = Callable[..., None]

EXPORTERS: dict[str, Exporter] = {}
ERASERS: dict[str, Eraser] = {}


def register_exporter(section: str, exporter: Exporter) -> None:
    EXPORTERS[section] = exporter


def register_eraser(name: str, eraser: Eraser) -> None:
    ERASERS[name] = eraser
