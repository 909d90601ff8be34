"""Reads of the flash-sale path shared by the checkout pages and the live buy page."""

from __future__ import annotations

from ..models import FlashReservation
from . import store


def reservation_outcome(*, reservation_id: str, buyer) -> tuple[str, FlashReservation | None]:
    """("written" | "rejected", row), ("pending", None) while the writer has not got to it, or
    ("lost", None) when neither PostgreSQL nor Redis knows it (Redis lost it before it was
    written: nothing was sold or charged). Only the buyer's own reservations are found."""
    row = FlashReservation.objects.filter(reservation_id=reservation_id, buyer=buyer).first()
    if row is not None:
        return row.status, row
    if store.pending_owner(reservation_id) == buyer.pk:
        return "pending", None
    row = FlashReservation.objects.filter(reservation_id=reservation_id, buyer=buyer).first()
    return (row.status, row) if row is not None else ("lost", None)


def wait_for_checkout(
    *, reservation_id: str, buyer, timeout: float
) -> tuple[str, FlashReservation | None]:
    """reservation_outcome, after waiting up to `timeout` s for the writer's word."""
    state = reservation_outcome(reservation_id=reservation_id, buyer=buyer)
    if state[0] == "pending" and timeout > 0:
        store.wait_outcome(reservation_id, timeout)
        state = reservation_outcome(reservation_id=reservation_id, buyer=buyer)
    return state
