"""Seller balance and payouts (/dashboard/payouts/). Being built; `orders` namespace."""

urlpatterns: list = []
