"""Payout tasks (release after hold, gather payouts, send them). Being built."""
