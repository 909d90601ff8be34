"""Staff tools for payouts. Being built."""
