"""Gift pages, in the `gifts` namespace."""

from django.urls import path

from . import views

app_name = "gifts"

urlpatterns = [
    path("dashboard/gifts/", views.earnings_page, name="earnings"),
    path("gifts/settings/", views.settings_page, name="settings"),
]
