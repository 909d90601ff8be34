"""Buy now, checkout and paying (/buy-now/, /checkout/); `orders` namespace."""

from django.urls import path

from . import views

urlpatterns = [
    path("buy-now/", views.buy_now, name="buy-now"),
    path("checkout/", views.checkout_page, name="checkout"),
    path(
        "checkout/reserved/<slug:reservation_id>/",
        views.flash_reservation,
        name="flash-reservation",
    ),
    path("checkout/<int:checkout_id>/pay/", views.checkout_pay, name="checkout-pay"),
    path(
        "checkout/<int:checkout_id>/pay/local-confirm/",
        views.checkout_local_confirm,
        name="checkout-local-confirm",
    ),
    path("checkout/<int:checkout_id>/done/", views.checkout_done, name="checkout-done"),
    path("checkout/<int:checkout_id>/status/", views.checkout_status, name="checkout-status"),
    path("checkout/<int:checkout_id>/restore/", views.checkout_restore, name="checkout-restore"),
]
