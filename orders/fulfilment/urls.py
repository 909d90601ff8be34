"""A shopper's orders (/orders/) and a seller's orders (/dashboard/orders/); `orders` namespace."""

from django.urls import path

from . import seller_views, shopper_views

urlpatterns = [
    path("orders/", shopper_views.order_list, name="order-list"),
    path("orders/<int:pk>/", shopper_views.order_detail, name="order-detail"),
    path("dashboard/orders/", seller_views.order_list, name="seller-order-list"),
    path("dashboard/orders/<int:pk>/", seller_views.order_detail, name="seller-order-detail"),
    path("dashboard/orders/<int:pk>/ship/", seller_views.ship, name="seller-order-ship"),
    path("dashboard/orders/<int:pk>/deliver/", seller_views.deliver, name="seller-order-deliver"),
    path("dashboard/orders/<int:pk>/refund/", seller_views.refund, name="seller-order-refund"),
    path("dashboard/orders/<int:pk>/cancel/", seller_views.cancel, name="seller-order-cancel"),
]
