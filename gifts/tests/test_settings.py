"""A user's own gifting settings and staff's freezes."""

from datetime import date

import pytest

from gifts import services
from gifts.errors import InvalidCap
from gifts.models import GiftingEvent
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.errors import NotAllowed, ShopFeedError

pytestmark = pytest.mark.django_db


def test_a_user_may_lower_their_cap_but_not_raise_it_above_the_platform(settings):
    settings.GIFTS_DAILY_COIN_CAP = 1000
    user = UserFactory()
    profile = services.update_gifting_settings(user=user, daily_coin_cap=200)
    assert services.effective_daily_cap(profile) == 200
    for bad in (1001, 0, -1, True, "200"):
        with pytest.raises(InvalidCap):
            services.update_gifting_settings(user=user, daily_coin_cap=bad)
    profile.refresh_from_db()
    assert profile.daily_coin_cap == 200
    profile = services.update_gifting_settings(user=user, daily_coin_cap=None)
    assert services.effective_daily_cap(profile) == 1000


def test_supporter_level_is_private_until_the_user_shows_it():
    user = UserFactory()
    assert services.gifting_profile(user).show_supporter_level is False
    services.update_gifting_settings(user=user, show_supporter_level=True)
    assert services.gifting_profile(user).show_supporter_level is True


def test_a_birth_date_is_set_once_and_must_be_real():
    user = UserFactory()
    with pytest.raises(ShopFeedError, match="real date"):
        services.update_gifting_settings(user=user, birth_date=date(2999, 1, 1))
    services.update_gifting_settings(user=user, birth_date=date(1995, 2, 3))
    with pytest.raises(ShopFeedError, match="already set"):
        services.update_gifting_settings(user=user, birth_date=date(1990, 2, 3))
    user.refresh_from_db()
    assert user.birth_date == date(1995, 2, 3)


def test_staff_freeze_and_unfreeze_with_a_reason_and_each_is_audited():
    staff = UserFactory(is_staff=True)
    user = UserFactory()
    assert services.freeze_gifting(user=user, reason="Card dispute", by=None).is_frozen
    assert not services.unfreeze_gifting(user=user, reason="Dispute won", by=staff).is_frozen
    assert list(user.gifting_events.values_list("kind", "actor", "reason")) == [
        (GiftingEvent.Kind.UNFROZEN, staff.pk, "Dispute won"),
        (GiftingEvent.Kind.FROZEN, None, "Card dispute"),
    ]


def test_only_staff_unfreeze():
    user = UserFactory()
    services.freeze_gifting(user=user, reason="abuse")
    with pytest.raises(NotAllowed):
        services.unfreeze_gifting(user=user, reason="please", by=user)
    assert services.gifting_profile(user).is_frozen


def test_age_counts_whole_years_to_the_birthday():
    assert services.age_on(date(2008, 6, 2), date(2026, 6, 1)) == 17
    assert services.age_on(date(2008, 6, 2), date(2026, 6, 2)) == 18
