"""API v1 for coins under /api/v1/gifts/: the packs (public, with money prices and the terms
of an exact-amount purchase), buying coins (a client secret for Stripe.js, or paid at once
with a saved card), my purchases and refunding a purchase's unused coins. Views parse, call a
service or selector, render; domain errors become 4xx in shopfeed.api.exception_handler."""

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from shopfeed.schema import ErrorSerializer

from . import selectors, services
from .models import CoinPurchase
from .serializers import (
    BuyRequestSerializer,
    CoinPurchaseSerializer,
    CoinRefundSerializer,
    PackListSerializer,
    StartedPurchaseSerializer,
)

app_name = "coins_api"

CURRENCY_PARAM = OpenApiParameter(
    "currency",
    str,
    description="Prices in this currency (default: the site's).",
    enum=services.sold_currencies(),
)


class CoinPacksView(APIView):
    """Coin packs on sale with their money prices, and the terms of buying an exact amount."""

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="gifts_coin_packs", parameters=[CURRENCY_PARAM], responses=PackListSerializer
    )
    def get(self, request):
        currency = services.clean_currency(request.query_params.get("currency"))
        body = {
            "packs": selectors.list_pack_offers(currency),
            "exact": selectors.exact_terms(currency),
        }
        return Response(PackListSerializer(body).data)


class CoinPurchaseListView(generics.ListAPIView):
    """My coin purchases, newest first, with what each still has refundable."""

    serializer_class = CoinPurchaseSerializer
    permission_classes = [IsAuthenticated]

    queryset = CoinPurchase.objects.none()  # for the schema; requests read get_queryset

    def get_queryset(self):
        return selectors.purchases_of(self.request.user)

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        return selectors.with_refundable(list(page or []), user=self.request.user)

    @extend_schema(operation_id="gifts_coin_purchases_list")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="gifts_coin_purchases_create",
        request=BuyRequestSerializer,
        responses={
            201: StartedPurchaseSerializer,
            402: ErrorSerializer,  # the saved card was declined
            502: ErrorSerializer,  # Stripe could not be reached or refused
        },
        description=(
            "Buy a pack (`pack`) or exactly `coins` coins. Answers the purchase with a "
            "`client_secret` to confirm with Stripe.js; with `saved_card` it is paid at once. "
            "Coins reach the wallet only when Stripe confirms the payment (watch `status`)."
        ),
    )
    def post(self, request):
        serializer = BuyRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        kwargs = {
            "buyer": request.user,
            "pack": data.get("pack"),
            "coins": data.get("coins"),
            "currency": data.get("currency"),
        }
        if "saved_card" in data:
            purchase = services.buy_with_saved_card(**kwargs, card_id=data["saved_card"])
        else:
            purchase = services.start_purchase(**kwargs)
        selectors.with_refundable([purchase], user=request.user)
        return Response(StartedPurchaseSerializer(purchase).data, status=status.HTTP_201_CREATED)


class CoinPurchaseDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="gifts_coin_purchase", responses=StartedPurchaseSerializer)
    def get(self, request, purchase_id: int):
        purchase = services.get_own_purchase(user=request.user, purchase_id=purchase_id)
        selectors.with_refundable([purchase], user=request.user)
        return Response(StartedPurchaseSerializer(purchase).data)


class CoinPurchaseRefundView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="gifts_coin_purchase_refund",
        request=None,
        responses={201: CoinRefundSerializer},
        description=(
            "Refund every unused coin of the purchase, within the refund window: the coins "
            "leave the wallet now and the money goes back to the card. Spent coins (the oldest "
            "are spent first) are not refundable."
        ),
    )
    def post(self, request, purchase_id: int):
        purchase = services.get_own_purchase(user=request.user, purchase_id=purchase_id)
        refund = services.refund_unused_coins(purchase=purchase, by=request.user)
        return Response(CoinRefundSerializer(refund).data, status=status.HTTP_201_CREATED)


urlpatterns = [
    path("gifts/coin-packs/", CoinPacksView.as_view(), name="coin-packs"),
    path("gifts/coin-purchases/", CoinPurchaseListView.as_view(), name="coin-purchases"),
    path(
        "gifts/coin-purchases/<int:purchase_id>/",
        CoinPurchaseDetailView.as_view(),
        name="coin-purchase",
    ),
    path(
        "gifts/coin-purchases/<int:purchase_id>/refund/",
        CoinPurchaseRefundView.as_view(),
        name="coin-purchase-refund",
    ),
]
