"""Reads about a viewer: their feed settings and region."""

from __future__ import annotations

import re

from django.conf import settings

from ..models import FeedPreference

_LANGUAGE_REGION = re.compile(r"^[a-zA-Z]{2,3}[-_]([a-zA-Z]{2})(?:$|[-_;])")


def region_from_accept_language(header: str) -> str:
    """The region of the browser's first language that names one ("en-GB" -> "GB")."""
    for part in (header or "").split(",")[:8]:
        match = _LANGUAGE_REGION.match(part.strip())
        if match:
            return match.group(1).upper()
    return ""


def preference_of(user) -> FeedPreference | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return FeedPreference.objects.filter(user=user).first()


def viewer_region(*, preference: FeedPreference | None, accept_language: str = "") -> str:
    return (
        (preference.region if preference else "")
        or region_from_accept_language(accept_language)
        or settings.FEED_DEFAULT_REGION
    )


def is_personalised(*, user, preference: FeedPreference | None) -> bool:
    """For You is personalised only for a signed-in viewer who has not switched it off."""
    if not getattr(user, "is_authenticated", False):
        return False
    return preference.personalised if preference else True


def regions_of(user_ids: list[int]) -> dict[int, str]:
    chosen = dict(
        FeedPreference.objects.filter(user_id__in=user_ids)
        .exclude(region="")
        .values_list("user_id", "region")
    )
    return {uid: chosen.get(uid, settings.FEED_DEFAULT_REGION) for uid in user_ids}
