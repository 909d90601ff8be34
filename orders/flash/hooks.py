"""How orders.flash reaches live flash deals without importing live (live sits above orders):
live registers one DealHook at startup (live/apps.py)."""

from __future__ import annotations

from typing import Protocol


class DealHook(Protocol):
    def prime(self, *, deal_id: int, force: bool) -> None:
        """Load the deal's units left and end time into Redis (store.prime_deal), holding the
        deal's row lock."""

    def take(self, *, claims: list[tuple[str, int, int]]) -> set[str]:
        """Inside the writer's transaction: count (reservation id, deal id, units) against the
        deals, locking their rows; returns the reservation ids accepted."""

    def record(self, *, claims: list[tuple[int, int, int]]) -> None:
        """Inside the writer's transaction: (deal id, checkout id, units) of written ones."""

    def reconcile(self) -> int:
        """Prime again every running deal (force); returns how many."""


_hook: DealHook | None = None


def register_deal_hook(hook: DealHook) -> None:
    global _hook
    _hook = hook


def deal_hook() -> DealHook | None:
    return _hook
