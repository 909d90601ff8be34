"""Seller order pages (/dashboard/orders/); `orders` namespace."""

from django.urls import path

from . import seller_views

urlpatterns = [
    path("", seller_views.order_list, name="seller-order-list"),
    path("<int:pk>/", seller_views.order_detail, name="seller-order-detail"),
    path("<int:pk>/ship/", seller_views.ship, name="seller-order-ship"),
    path("<int:pk>/deliver/", seller_views.deliver, name="seller-order-deliver"),
    path("<int:pk>/refund/", seller_views.refund, name="seller-order-refund"),
    path("<int:pk>/cancel/", seller_views.cancel, name="seller-order-cancel"),
]
