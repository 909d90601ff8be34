"""Seller balance and payouts (/dashboard/payouts/), in the `orders` namespace."""

from django.urls import path

from . import payout_views

urlpatterns = [
    path("", payout_views.payouts_page, name="payouts"),
    path("account/", payout_views.payout_account, name="payouts-account"),
]
