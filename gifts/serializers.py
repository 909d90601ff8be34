from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orders.ledger.models import LedgerEntry
from shopfeed.serializers import StrictJSONTypes

from . import wallet
from .models import SEND_MAX_COUNT, Gift, GiftingProfile, GiftSend

MAX_INT = 2_147_483_647
MAX_BIGINT = 9_223_372_036_854_775_807


class MoneySerializer(serializers.Serializer):
    amount = serializers.IntegerField(help_text="Minor units (cents).")
    currency = serializers.CharField()


class GiftSerializer(serializers.ModelSerializer):
    price = serializers.SerializerMethodField(help_text="The coins' value in money.")
    image = serializers.SerializerMethodField()
    animation = serializers.SerializerMethodField()

    class Meta:
        model = Gift
        fields = [
            "id",
            "name",
            "slug",
            "coins",
            "price",
            "image",
            "animation",
            "is_comboable",
            "sort_order",
        ]

    @extend_schema_field(MoneySerializer)
    def get_price(self, gift: Gift) -> dict:
        amount, currency = wallet.coins_value(gift.coins, self.context.get("currency"))
        return {"amount": amount, "currency": currency}

    @extend_schema_field(OpenApiTypes.URI)
    def get_image(self, gift: Gift) -> str:
        return gift.image.url if gift.image else ""

    @extend_schema_field(OpenApiTypes.URI)
    def get_animation(self, gift: Gift) -> str:
        return gift.animation.url if gift.animation else ""


class WalletSerializer(serializers.Serializer):
    balance = serializers.IntegerField(help_text="Coins in the wallet.")
    value = MoneySerializer(help_text="What the coins are worth.")
    daily_cap = serializers.IntegerField(help_text="Coins you may send today in total.")
    spent_today = serializers.IntegerField()
    left_today = serializers.IntegerField()
    frozen = serializers.BooleanField(help_text="Sending is paused on your account.")


class WalletEntrySerializer(serializers.ModelSerializer):
    coins = serializers.IntegerField(source="amount", help_text="+ in, - out.")
    kind = serializers.CharField(source="transaction.kind")
    memo = serializers.CharField(source="transaction.memo")
    created_at = serializers.DateTimeField(source="transaction.created_at")

    class Meta:
        model = LedgerEntry
        fields = ["id", "coins", "kind", "memo", "created_at"]


class SendRequestSerializer(StrictJSONTypes, serializers.Serializer):
    gift = serializers.IntegerField(min_value=1, max_value=MAX_BIGINT, help_text="Gift id.")
    count = serializers.IntegerField(min_value=1, max_value=SEND_MAX_COUNT, default=1)
    client_token = serializers.RegexField(
        r"^[A-Za-z0-9_-]{1,64}$",
        max_length=64,
        help_text="Your own id for this send (1-64 of A-Z a-z 0-9 - _): a resend with the "
        "same token is answered with the first send and moves nothing.",
    )
    host = serializers.RegexField(
        r"^[A-Za-z0-9_.]{2,30}$",
        required=False,
        help_text="The creator's handle (a direct gift); or give `session`.",
    )
    session = serializers.IntegerField(
        min_value=1,
        max_value=MAX_BIGINT,
        required=False,
        help_text="A live session's id: the gift goes to its host.",
    )

    def validate(self, attrs):
        if ("host" in attrs) == ("session" in attrs):
            raise serializers.ValidationError("Give either `host` or `session`.")
        return attrs


class GiftSendSerializer(serializers.ModelSerializer):
    sender = serializers.CharField(source="sender.handle")
    host = serializers.CharField(source="host.handle")
    session = serializers.IntegerField(source="session_id", allow_null=True)

    class Meta:
        model = GiftSend
        fields = [
            "id",
            "sender",
            "host",
            "gift",
            "session",
            "count",
            "coins_total",
            "client_token",
            "created_at",
        ]


class SendResultSerializer(serializers.Serializer):
    send = GiftSendSerializer()
    balance = serializers.IntegerField(help_text="Coins left in your wallet.")


class GiftingSettingsSerializer(StrictJSONTypes, serializers.ModelSerializer):
    daily_coin_cap = serializers.IntegerField(
        allow_null=True,
        min_value=1,
        max_value=MAX_INT,
        required=False,
        help_text="Your own daily limit in coins (empty: the platform's).",
    )
    platform_daily_cap = serializers.SerializerMethodField()
    birth_date = serializers.DateField(
        source="user.birth_date",
        allow_null=True,
        required=False,
        help_text="Needed once before sending gifts (18+).",
    )
    frozen = serializers.BooleanField(source="is_frozen", read_only=True)

    class Meta:
        model = GiftingProfile
        fields = [
            "daily_coin_cap",
            "platform_daily_cap",
            "show_supporter_level",
            "birth_date",
            "frozen",
        ]
        extra_kwargs = {"show_supporter_level": {"required": False}}

    def get_platform_daily_cap(self, profile) -> int:
        return int(settings.GIFTS_DAILY_COIN_CAP)
