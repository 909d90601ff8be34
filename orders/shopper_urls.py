"""Shopper order history and detail (/orders/); `orders` namespace."""

from django.urls import path

from . import shopper_views

urlpatterns = [
    path("", shopper_views.order_list, name="order-list"),
    path("<int:pk>/", shopper_views.order_detail, name="order-detail"),
]
