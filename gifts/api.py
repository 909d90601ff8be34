"""API v1 for gifts: the catalogue (public), my wallet and its history, sending a gift over
HTTP (the same service and checks as the room), my gifting settings. Views parse, call a
service or selector, render; domain errors become 4xx in shopfeed.api.exception_handler."""

from django.conf import settings
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from orders.ledger.models import LedgerEntry
from shopfeed.accounts.models import User
from shopfeed.errors import NotFound

from . import selectors, services, wallet
from .sending.services import send_gift, send_gift_to_session
from .serializers import (
    GiftingSettingsSerializer,
    GiftSerializer,
    SendRequestSerializer,
    SendResultSerializer,
    WalletEntrySerializer,
    WalletSerializer,
)

app_name = "gifts_api"

CURRENCY_PARAM = OpenApiParameter(
    "currency",
    str,
    description="Show money prices in this currency (default: the site's).",
    enum=sorted(settings.GIFTS_COIN_VALUE_PER_100),
)


def _currency(request) -> str:
    currency = request.query_params.get("currency", settings.DEFAULT_CURRENCY)
    if currency not in settings.GIFTS_COIN_VALUE_PER_100:
        known = ", ".join(sorted(settings.GIFTS_COIN_VALUE_PER_100))
        raise serializers.ValidationError({"currency": [f"One of: {known}."]})
    return currency


class CatalogueView(generics.ListAPIView):
    """Active gifts in display order, each with its coin price and its money price."""

    serializer_class = GiftSerializer
    permission_classes = [AllowAny]
    pagination_class = None  # a catalogue staff keep short; the drawer shows all of it

    def get_queryset(self):
        return selectors.list_active_gifts()

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "currency": _currency(self.request)}

    @extend_schema(operation_id="gifts_catalogue", parameters=[CURRENCY_PARAM])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class WalletView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="gifts_wallet", parameters=[CURRENCY_PARAM], responses=WalletSerializer
    )
    def get(self, request):
        summary = selectors.wallet_summary(request.user)
        amount, currency = wallet.coins_value(summary["balance"], _currency(request))
        summary["value"] = {"amount": amount, "currency": currency}
        return Response(WalletSerializer(summary).data)


class WalletHistoryView(generics.ListAPIView):
    """My wallet's entries, newest first: coins in (+) and out (-)."""

    serializer_class = WalletEntrySerializer
    permission_classes = [IsAuthenticated]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return LedgerEntry.objects.none()
        return selectors.wallet_history(self.request.user)

    @extend_schema(operation_id="gifts_wallet_history")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class SendView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="gifts_send",
        request=SendRequestSerializer,
        responses={201: SendResultSerializer, 200: SendResultSerializer},
        description="Send a gift to a creator or a live session's host. 201 for a new send; "
        "200 with the first send when the client token was used before (nothing moves).",
    )
    def post(self, request):
        data = SendRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if "session" in v:
            send = send_gift_to_session(
                sender=request.user,
                session_id=v["session"],
                gift=v["gift"],
                count=v["count"],
                client_token=v["client_token"],
            )
        else:
            host = User.objects.filter(handle__iexact=v["host"]).first()
            if host is None:
                raise NotFound("No creator has that handle.", code="host_not_found")
            send = send_gift(
                sender=request.user,
                host=host,
                gift=v["gift"],
                count=v["count"],
                client_token=v["client_token"],
            )
        body = SendResultSerializer(
            {"send": send, "balance": wallet.wallet_balance(request.user)}
        ).data
        return Response(
            body, status=status.HTTP_200_OK if send.replayed else status.HTTP_201_CREATED
        )


class SettingsView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="gifts_settings", responses=GiftingSettingsSerializer)
    def get(self, request):
        profile = services.gifting_profile(request.user)
        return Response(GiftingSettingsSerializer(profile).data)

    @extend_schema(
        operation_id="gifts_settings_update",
        request=GiftingSettingsSerializer,
        responses=GiftingSettingsSerializer,
    )
    def patch(self, request):
        data = GiftingSettingsSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        changes = {k: v[k] for k in ("daily_coin_cap", "show_supporter_level") if k in v}
        if "user" in v and v["user"].get("birth_date") is not None:
            changes["birth_date"] = v["user"]["birth_date"]
        profile = services.update_gifting_settings(user=request.user, **changes)
        return Response(GiftingSettingsSerializer(profile).data)


urlpatterns = [
    path("gifts/catalogue/", CatalogueView.as_view(), name="catalogue"),
    path("gifts/wallet/", WalletView.as_view(), name="wallet"),
    path("gifts/wallet/history/", WalletHistoryView.as_view(), name="wallet-history"),
    path("gifts/sends/", SendView.as_view(), name="send"),
    path("gifts/settings/", SettingsView.as_view(), name="settings"),
]
