"""Gifting settings and staff controls: a user's own cap and privacy, birth date, freezes.

Sending lives in gifts.sending.services, coins in gifts.wallet, creator earnings in
gifts.earnings.services.
"""

from datetime import date

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from shopfeed.errors import NotAllowed, ShopFeedError

from .errors import InvalidCap
from .models import GiftingEvent, GiftingProfile


def gifting_profile(user) -> GiftingProfile:
    profile, _ = GiftingProfile.objects.get_or_create(user=user)
    return profile


def platform_daily_cap() -> int:
    return int(settings.GIFTS_DAILY_COIN_CAP)


def effective_daily_cap(profile: GiftingProfile | None) -> int:
    """The lower of the user's own cap and the platform default."""
    cap = platform_daily_cap()
    if profile is not None and profile.daily_coin_cap is not None:
        cap = min(cap, profile.daily_coin_cap)
    return cap


def age_on(birth_date: date, today: date) -> int:
    before_birthday = (today.month, today.day) < (birth_date.month, birth_date.day)
    return today.year - birth_date.year - before_birthday


_UNSET = object()


@transaction.atomic
def update_gifting_settings(
    *,
    user,
    daily_coin_cap=_UNSET,
    show_supporter_level=_UNSET,
    birth_date=_UNSET,
) -> GiftingProfile:
    """The user changes their own settings; only what is passed changes.

    `daily_coin_cap` None means "the platform default"; a number must be 1..platform cap.
    `birth_date` can be given once (changing it afterwards is for support, not a form).
    """
    if not getattr(user, "is_authenticated", False):
        raise NotAllowed("Sign in to change your gifting settings.")
    GiftingProfile.objects.get_or_create(user=user)
    profile = GiftingProfile.objects.select_for_update().get(user=user)
    fields = []
    if daily_coin_cap is not _UNSET:
        if daily_coin_cap is not None and (
            not isinstance(daily_coin_cap, int)
            or isinstance(daily_coin_cap, bool)
            or not 1 <= daily_coin_cap <= platform_daily_cap()
        ):
            raise InvalidCap(
                f"Your daily cap must be a whole number of coins from 1 to "
                f"{platform_daily_cap():,} (the platform's limit), or empty for that limit."
            )
        profile.daily_coin_cap = daily_coin_cap
        fields.append("daily_coin_cap")
    if show_supporter_level is not _UNSET:
        if not isinstance(show_supporter_level, bool):
            raise ShopFeedError("Choose yes or no.", code="invalid", field="show_supporter_level")
        profile.show_supporter_level = show_supporter_level
        fields.append("show_supporter_level")
    if birth_date is not _UNSET:
        _set_birth_date(user, birth_date)
    if fields:
        profile.save(update_fields=[*fields, "updated_at"])
        _sends_changed(user)
    return profile


def _sends_changed(user) -> None:
    from .sending.mirror import changed

    changed([user.pk])


def _set_birth_date(user, birth_date) -> None:
    if not isinstance(birth_date, date):
        raise ShopFeedError("Enter your date of birth.", code="invalid", field="birth_date")
    if user.birth_date is not None and user.birth_date != birth_date:
        raise ShopFeedError(
            "Your date of birth is already set; contact support to correct it.",
            code="birth_date_set",
            field="birth_date",
        )
    today = timezone.localdate()
    if birth_date > today or age_on(birth_date, today) > 120:
        raise ShopFeedError(
            "Enter your real date of birth.", code="invalid_birth_date", field="birth_date"
        )
    user.birth_date = birth_date
    user.save(update_fields=["birth_date", "updated_at"])


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ShopFeedError("Say why.", code="reason_required", field="reason")
    return reason


@transaction.atomic
def freeze_gifting(*, user, reason: str, by=None) -> GiftingProfile:
    """Stop the user sending gifts until staff unfreeze; `by` None is the system (a dispute)."""
    if by is not None and not getattr(by, "is_staff", False):
        raise NotAllowed("Only staff can freeze gifting.")
    reason = _clean_reason(reason)
    GiftingProfile.objects.get_or_create(user=user)
    profile = GiftingProfile.objects.select_for_update().get(user=user)
    if profile.frozen_at is None:
        profile.frozen_at = timezone.now()
    profile.frozen_reason = reason
    profile.save(update_fields=["frozen_at", "frozen_reason", "updated_at"])
    GiftingEvent.objects.create(user=user, kind=GiftingEvent.Kind.FROZEN, actor=by, reason=reason)
    _sends_changed(user)
    return profile


@transaction.atomic
def unfreeze_gifting(*, user, reason: str, by) -> GiftingProfile:
    if not getattr(by, "is_staff", False):
        raise NotAllowed("Only staff can unfreeze gifting.")
    reason = _clean_reason(reason)
    GiftingProfile.objects.get_or_create(user=user)
    profile = GiftingProfile.objects.select_for_update().get(user=user)
    profile.frozen_at = None
    profile.frozen_reason = ""
    profile.save(update_fields=["frozen_at", "frozen_reason", "updated_at"])
    GiftingEvent.objects.create(user=user, kind=GiftingEvent.Kind.UNFROZEN, actor=by, reason=reason)
    _sends_changed(user)
    return profile
