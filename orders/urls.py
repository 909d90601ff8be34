"""Every orders page, one `orders` namespace; each use case's routes live in its package."""

from django.urls import include, path

from .cards import urls as cards_urls
from .cart import urls as cart_urls
from .checkout import urls as checkout_urls
from .fulfilment import urls as fulfilment_urls
from .payouts import urls as payouts_urls

app_name = "orders"

urlpatterns = [
    path("", include(cart_urls)),
    path("", include(checkout_urls)),
    path("", include(cards_urls)),
    path("", include(fulfilment_urls)),
    path("", include(payouts_urls)),
]
