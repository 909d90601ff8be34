"""Gift test data, made through the real services (coins arrive through credit_coins)."""

import uuid
from datetime import date

import factory

from gifts import wallet
from gifts.models import Gift
from shopfeed.accounts.tests.factories import CreatorFactory, UserFactory
from shops.tests.factories import make_image_file

ADULT_BIRTH_DATE = date(1990, 5, 17)


class GiftFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Gift

    name = factory.Sequence(lambda n: f"Gift {n}")
    slug = factory.Sequence(lambda n: f"gift-{n}")
    coins = 1
    image = factory.LazyFunction(lambda: make_image_file("gift.png", size=(16, 16)))
    is_comboable = False
    is_active = True


class AdultFactory(UserFactory):
    birth_date = ADULT_BIRTH_DATE


class AdultCreatorFactory(CreatorFactory):
    birth_date = ADULT_BIRTH_DATE


def give_coins(user, coins: int, *, reference: str | None = None):
    """Put `coins` in the user's wallet the way a purchase does (coins sold -> wallet)."""
    return wallet.credit_coins(
        user=user,
        coins=coins,
        reference=reference or f"test:coins:{uuid.uuid4().hex}",
        kind="coin_test_credit",
        memo="test coins",
    )
