"""Signals gifts sends so that apps above it (live) can react without gifts importing them.

Sent after the transaction that made the change commits; receivers get ids and plain values.
"""

from django.dispatch import Signal

# A gift send was committed (not sent again for a resend with the same client token).
# kwargs: send_id: int, sender_id: int, host_id: int, gift_id: int, count: int,
#         coins_total: int, session_id: int | None
gift_sent = Signal()
