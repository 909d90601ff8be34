"""Demo coin packs: a few realistic sizes, each a little cheaper than buying the same coins
as an exact amount (GIFTS_COIN_VALUE_PER_100), never dearer."""

from django.db import transaction

from .models import CoinPack, CoinPackPrice

# coins, name, {currency: price in minor units}
DEMO_PACKS = [
    (70, "Starter", {"USD": 89, "EUR": 79}),
    (350, "Small", {"USD": 449, "EUR": 409}),
    (1_400, "Medium", {"USD": 1_799, "EUR": 1_649}),
    (7_000, "Large", {"USD": 8_799, "EUR": 8_199}),
    (17_500, "Huge", {"USD": 21_999, "EUR": 20_499}),
]


@transaction.atomic
def seed_coin_packs() -> int:
    """Create the demo packs that do not exist yet (by coin count); returns how many."""
    created = 0
    for sort_order, (coins, name, prices) in enumerate(DEMO_PACKS):
        pack, made = CoinPack.objects.get_or_create(
            coins=coins, defaults={"name": name, "sort_order": sort_order}
        )
        created += made
        for currency, amount in prices.items():
            CoinPackPrice.objects.get_or_create(
                pack=pack, currency=currency, defaults={"price_amount": amount}
            )
    return created
