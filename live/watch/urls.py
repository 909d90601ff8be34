"""Shopper pages, included by live/urls.py in the `live` namespace."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.live_now, name="now"),
    path("<int:pk>/", views.watch, name="watch"),
]
