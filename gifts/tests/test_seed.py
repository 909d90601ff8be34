import pytest
from django.core.management import call_command

from gifts import wallet
from gifts.models import Gift
from shopfeed.accounts.models import User

pytestmark = pytest.mark.django_db


def test_seed_gifts_loads_a_realistic_catalogue_once(capsys):
    call_command("seed_demo")
    call_command("seed_gifts")
    call_command("seed_gifts")
    gifts = list(Gift.objects.all())
    assert len(gifts) == 12
    assert (gifts[0].name, gifts[0].coins, gifts[0].is_comboable) == ("Rose", 1, True)
    assert max(g.coins for g in gifts) == 29_999
    assert all(g.image.name.endswith(".png") for g in gifts)
    shopper = User.objects.get(handle="shopper")
    assert wallet.wallet_balance(shopper) == 2_000  # credited once
    assert shopper.birth_date is not None
