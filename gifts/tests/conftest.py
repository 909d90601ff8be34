"""The payout path's fixtures (localstripe and the Connect transfers stand-in) for gift
earnings tests."""

from orders.tests.conftest import fake_connect  # noqa: F401
