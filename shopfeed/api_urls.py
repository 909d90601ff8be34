"""Everything under /api/v1/."""

from django.urls import include, path

from shopfeed.accounts.api import ObtainTokenView
from shopfeed.api import WebSocketTicketView

urlpatterns = [
    path("auth/token/", ObtainTokenView.as_view(), name="token"),
    path("live/ws-ticket/", WebSocketTicketView.as_view(), name="live-ws-ticket"),
    path("", include("shops.api")),
    path("", include("gifts.api")),
]
