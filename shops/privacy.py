"""A seller who deletes their account (shopfeed.accounts.privacy): the shop is suspended with
the reason, so its products leave the site while its orders and payouts stay on the books."""

from django.utils import timezone

from .models import Shop


def close_shop_of(user) -> None:
    Shop.objects.filter(owner=user).update(
        status=Shop.Status.SUSPENDED,
        suspended_reason="The owner deleted their account.",
        suspended_at=timezone.now(),
    )
