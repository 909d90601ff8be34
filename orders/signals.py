"""Signals orders sends so that apps above it (live) can react without orders importing them.

Both are sent after the transaction that made the change commits; receivers get ids only.
"""

from django.dispatch import Signal

# An unpaid checkout gave its reservation back (expired, failed or cancelled).
# kwargs: checkout_id: int, status: str
checkout_released = Signal()

# A checkout and its orders became paid. kwargs: checkout_id: int
checkout_paid = Signal()
