"""Buying from the live page, included by live/urls.py in the `live` namespace."""

from django.urls import path

from . import views

urlpatterns = [
    path("<int:pk>/buy/", views.buy, name="buy"),
]
