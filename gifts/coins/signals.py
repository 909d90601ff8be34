"""Signals of coin purchases, for apps above gifts (live: the sender's balance in the room).

Sent after the transaction that credited the coins commits.
"""

from django.dispatch import Signal

# A purchase's coins reached the buyer's wallet. kwargs: purchase_id, buyer_id, coins.
coins_credited = Signal()
