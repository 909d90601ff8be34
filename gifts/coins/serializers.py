from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..serializers import MoneySerializer
from .models import CoinPurchase, CoinRefund

MAX_INT = 2_147_483_647


class PackOfferSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pack.pk")
    name = serializers.CharField(source="pack.name")
    coins = serializers.IntegerField(source="pack.coins")
    price = serializers.SerializerMethodField(help_text="What the pack costs.")
    exact_price = serializers.SerializerMethodField(
        help_text="What the same coins cost bought as an exact amount."
    )

    @extend_schema_field(MoneySerializer)
    def get_price(self, offer) -> dict:
        return {"amount": offer.price_amount, "currency": offer.currency}

    @extend_schema_field(MoneySerializer)
    def get_exact_price(self, offer) -> dict:
        return {"amount": offer.exact_amount, "currency": offer.currency}


class ExactTermsSerializer(serializers.Serializer):
    currency = serializers.CharField()
    value_per_100 = serializers.IntegerField(help_text="What 100 coins cost, in minor units.")
    min_coins = serializers.IntegerField(help_text="The smallest exact purchase.")
    max_coins = serializers.IntegerField(help_text="The largest purchase.")


class PackListSerializer(serializers.Serializer):
    packs = PackOfferSerializer(many=True)
    exact = ExactTermsSerializer(help_text="Buying an exact number of coins.")


class BuyRequestSerializer(serializers.Serializer):
    pack = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_INT, help_text="A pack's id; or `coins`."
    )
    coins = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=settings.GIFTS_COIN_PURCHASE_MAX_COINS,
        help_text=(
            "Exactly this many coins (e.g. what a gift lacks); or `pack`. At least what one "
            "card payment's minimum buys (see `exact.min_coins` in the packs)."
        ),
    )
    currency = serializers.ChoiceField(
        required=False,
        choices=sorted(settings.GIFTS_COIN_VALUE_PER_100),
        help_text="Default: the site's.",
    )
    saved_card = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_INT,
        help_text="Pay at once with this saved card (one-tap top-up).",
    )


class CoinRefundSerializer(serializers.ModelSerializer):
    class Meta:
        model = CoinRefund
        fields = ["id", "coins", "refund_amount", "currency", "status", "created_at"]


class CoinPurchaseSerializer(serializers.ModelSerializer):
    pack = serializers.IntegerField(source="pack_id", allow_null=True)
    refunds = CoinRefundSerializer(many=True, read_only=True)
    refundable_coins = serializers.SerializerMethodField(
        help_text="Unused coins that can be refunded now (0 outside the refund window)."
    )
    refund_until = serializers.SerializerMethodField()

    class Meta:
        model = CoinPurchase
        fields = [
            "id",
            "pack",
            "coins",
            "total_amount",
            "currency",
            "status",
            "coins_refunded",
            "coins_reclaimed",
            "refunded_amount",
            "refundable_coins",
            "refund_until",
            "refunds",
            "created_at",
            "paid_at",
        ]

    @extend_schema_field(OpenApiTypes.INT)
    def get_refundable_coins(self, purchase) -> int:
        return getattr(purchase, "refundable_coins", 0)

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_refund_until(self, purchase):
        until = getattr(purchase, "refund_until", None)
        return until.isoformat() if until else None


class StartedPurchaseSerializer(CoinPurchaseSerializer):
    client_secret = serializers.CharField(
        help_text="Confirm the payment with Stripe.js using this; empty once paid."
    )
    payment_intent_id = serializers.CharField(
        allow_null=True, help_text="Null while Stripe has not answered yet."
    )

    class Meta(CoinPurchaseSerializer.Meta):
        fields = [*CoinPurchaseSerializer.Meta.fields, "client_secret", "payment_intent_id"]
