"""Every orders page, one `orders` namespace; each part's routes live in its own module."""

from django.urls import include, path

from . import cart_urls, payout_urls, seller_urls, shopper_urls

app_name = "orders"

urlpatterns = [
    path("", include(cart_urls)),
    path("orders/", include(shopper_urls)),
    path("dashboard/orders/", include(seller_urls)),
    path("dashboard/payouts/", include(payout_urls)),
]
