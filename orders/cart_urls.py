"""Cart, buy now and checkout pages (/cart/, /checkout/). Being built; `orders` namespace."""

urlpatterns: list = []
