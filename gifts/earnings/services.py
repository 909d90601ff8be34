"""Creator earnings: diamonds become creator payable money and go out with the payouts.

  convert (beat, after the payout hold): creator diamonds -> diamonds redeemed   (COIN)
                                         platform revenue -> creator payable     (money)
  then, for a creator with a shop:       creator payable  -> seller available    (money)
and orders.payouts gathers the shop's withdrawable balance into a Payout (same minimum) and
sends it exactly once. Diamonds are converted only from sends older than PAYOUT_HOLD_DAYS, so
staff can still reverse a send (a disputed purchase) inside the hold, in coins.
A creator without a shop keeps the money in creator payable until they open one.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Sum

from orders.ledger import services as ledger
from orders.ledger.models import LedgerAccount
from shops.models import Shop

from .. import wallet
from ..models import DiamondConversion, GiftingProfile, GiftSend

Kind = LedgerAccount.Kind


def payout_currency(creator) -> str:
    shop = Shop.objects.filter(owner=creator).only("currency").first()
    return shop.currency if shop is not None else settings.DEFAULT_CURRENCY


def diamond_value(currency: str) -> int:
    """Minor units one diamond pays in `currency`."""
    return int(settings.GIFTS_DIAMOND_VALUE[currency])


def convert_due_diamonds(*, now: datetime) -> list[DiamondConversion]:
    """Convert every creator's diamonds from sends older than the hold; idempotent."""
    cutoff = now - timedelta(days=settings.PAYOUT_HOLD_DAYS)
    creator_ids = (
        GiftSend.objects.filter(conversion__isnull=True, created_at__lte=cutoff)
        .values_list("host_id", flat=True)
        .distinct()
    )
    conversions = []
    for creator_id in sorted(set(creator_ids)):
        conversion = convert_diamonds(creator_id=creator_id, cutoff=cutoff)
        if conversion is not None:
            conversions.append(conversion)
    return conversions


@transaction.atomic
def convert_diamonds(*, creator_id: int, cutoff: datetime) -> DiamondConversion | None:
    # The creator's gifting profile row orders conversions of one creator: two beat runs
    # never convert the same sends twice.
    GiftingProfile.objects.get_or_create(user_id=creator_id)
    profile = (
        GiftingProfile.objects.select_for_update().select_related("user").get(user_id=creator_id)
    )
    creator = profile.user
    due = list(
        GiftSend.objects.filter(
            host_id=creator_id, conversion__isnull=True, created_at__lte=cutoff
        ).values_list("pk", "creator_diamonds")
    )
    diamonds = sum(d for _, d in due)
    if diamonds <= 0:
        return None
    currency = payout_currency(creator)
    rate = diamond_value(currency)
    conversion = DiamondConversion.objects.create(
        creator=creator,
        diamonds=diamonds,
        amount=diamonds * rate,
        currency=currency,
        diamond_value=rate,
    )
    marked = GiftSend.objects.filter(pk__in=[pk for pk, _ in due], conversion__isnull=True).update(
        conversion=conversion
    )
    assert marked == len(due)  # under the profile lock nobody else converts these
    ledger.post(
        reference=f"gifts:convert:{conversion.pk}",
        kind="diamond_conversion",
        memo=f"{diamonds} diamonds of user {creator_id} at {rate} {currency} minor units",
        entries=[
            (wallet.diamonds_account(creator), -diamonds),
            (wallet.platform_account(Kind.DIAMONDS_REDEEMED), diamonds),
            (ledger.account(kind=Kind.PLATFORM_REVENUE, currency=currency), -conversion.amount),
            (
                ledger.account(kind=Kind.CREATOR_PAYABLE, currency=currency, user=creator),
                conversion.amount,
            ),
        ],
    )
    release_creator_payable(creator=creator, currency=currency, reference=conversion.pk)
    return conversion


def release_creator_payable(*, creator, currency: str, reference: int) -> int:
    """Move the creator's whole payable to their shop's withdrawable balance, where the
    payouts pick it up; nothing when they have no shop. Returns the amount moved."""
    shop = Shop.objects.filter(owner=creator).first()
    if shop is None or shop.currency != currency:
        return 0
    payable = ledger.account(kind=Kind.CREATOR_PAYABLE, currency=currency, user=creator)
    locked = LedgerAccount.objects.select_for_update().get(pk=payable.pk)
    amount = locked.balance_amount
    if amount <= 0:
        return 0
    ledger.post(
        reference=f"gifts:release:{reference}",
        kind="creator_release",
        memo=f"Gift earnings of user {creator.pk} to shop {shop.pk}",
        entries=[
            (locked, -amount),
            (ledger.account(kind=Kind.SELLER_AVAILABLE, currency=currency, shop=shop), amount),
        ],
    )
    return amount


def earnings_summary(creator) -> dict:
    """The studio's figures: diamonds waiting, their money value, what was converted."""
    currency = payout_currency(creator)
    waiting = wallet.diamonds_balance(creator)
    converted = DiamondConversion.objects.filter(creator=creator).aggregate(
        diamonds=Sum("diamonds"), amount=Sum("amount")
    )
    return {
        "currency": currency,
        "diamonds": waiting,
        "diamonds_value": waiting * diamond_value(currency),
        "converted_diamonds": converted["diamonds"] or 0,
        "converted_amount": converted["amount"] or 0,
    }
