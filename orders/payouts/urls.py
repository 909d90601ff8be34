"""Seller balance and payouts (/dashboard/payouts/), in the `orders` namespace."""

from django.urls import path

from . import views

urlpatterns = [
    path("dashboard/payouts/", views.payouts_page, name="payouts"),
    path("dashboard/payouts/account/", views.payout_account, name="payouts-account"),
]
