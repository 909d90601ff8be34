"""Shopper order history and detail (/orders/). Being built; `orders` namespace."""

urlpatterns: list = []
