"""The cart (/cart/); `orders` namespace."""

from django.urls import path

from . import views

urlpatterns = [
    path("cart/", views.cart_page, name="cart"),
    path("cart/add/", views.cart_add, name="cart-add"),
    path("cart/items/<int:item_id>/", views.cart_item_update, name="cart-item-update"),
    path("cart/items/<int:item_id>/remove/", views.cart_item_remove, name="cart-item-remove"),
]
