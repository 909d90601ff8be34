"""Staff tools for orders; payouts' admin is in admin_payouts.py."""

from . import admin_payouts  # noqa: F401
