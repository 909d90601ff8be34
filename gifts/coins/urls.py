"""The Coins pages (/coins/); `coins` namespace."""

from django.urls import path

from . import views

app_name = "coins"

urlpatterns = [
    path("", views.coins_page, name="page"),
    path("buy/", views.buy, name="buy"),
    path("purchases/<int:purchase_id>/", views.purchase_page, name="purchase"),
    path("purchases/<int:purchase_id>/status/", views.purchase_status, name="purchase-status"),
    path("purchases/<int:purchase_id>/pay/", views.pay, name="pay"),
    path(
        "purchases/<int:purchase_id>/pay/local-confirm/",
        views.pay_local_confirm,
        name="pay-local-confirm",
    ),
    path("purchases/<int:purchase_id>/pay/saved-card/", views.pay_saved, name="pay-saved"),
    path("purchases/<int:purchase_id>/pay/save-card/", views.pay_save_card, name="pay-save-card"),
    path("purchases/<int:purchase_id>/refund/", views.refund, name="refund"),
]
