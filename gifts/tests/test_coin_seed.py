from django.core.management import call_command

from gifts.coins import services as coins
from gifts.coins.models import CoinPack, CoinPackPrice


def test_the_demo_packs_are_realistic_priced_in_money_and_seeded_once(db):
    call_command("seed_coin_packs")
    call_command("seed_coin_packs")

    assert list(CoinPack.objects.values_list("coins", flat=True)) == [70, 350, 1400, 7000, 17500]
    for price in CoinPackPrice.objects.select_related("pack"):
        exact = coins.exact_price(price.pack.coins, price.currency)
        assert 0.9 * exact <= price.price_amount <= exact  # a bundle never costs more
    assert CoinPackPrice.objects.count() == 10
