"""Payment tasks (webhook processing, expiry, reconciliation). Being built."""
