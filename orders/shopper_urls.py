"""Shopper order history and detail (/orders/); `orders` namespace."""

from django.urls import path

from . import card_views, shopper_views

urlpatterns = [
    path("", shopper_views.order_list, name="order-list"),
    path("<int:pk>/", shopper_views.order_detail, name="order-detail"),
    path("cards/", card_views.saved_cards, name="saved-cards"),
    path("cards/<int:card_id>/remove/", card_views.saved_card_remove, name="saved-card-remove"),
]
