"""Everything under /api/v1/."""

from django.urls import include, path

from shopfeed.accounts.api import ObtainTokenView

urlpatterns = [
    path("auth/token/", ObtainTokenView.as_view(), name="token"),
    path("", include("shops.api")),
]
