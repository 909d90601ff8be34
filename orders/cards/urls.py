"""Saved cards: saving one while paying, paying with one, and the buyer's list (/orders/cards/)."""

from django.urls import path

from . import views

urlpatterns = [
    path(
        "checkout/<int:checkout_id>/pay/save-card/",
        views.checkout_save_card,
        name="checkout-save-card",
    ),
    path(
        "checkout/<int:checkout_id>/pay/saved-card/",
        views.checkout_pay_saved,
        name="checkout-pay-saved",
    ),
    path("orders/cards/", views.saved_cards, name="saved-cards"),
    path("orders/cards/<int:card_id>/remove/", views.saved_card_remove, name="saved-card-remove"),
]
