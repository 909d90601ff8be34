"""Seller order pages (/dashboard/orders/). Being built; `orders` namespace."""

urlpatterns: list = []
