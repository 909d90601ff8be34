"""A shopper's saved shipping addresses: save, list, choose a default. Every address is
checked and normalised by its country's rules (postal.normalize) before it is kept."""

from django.db import transaction
from django.db.models import QuerySet

from shopfeed.errors import NotFound, ShopFeedError

from ..models import Address
from . import postal

MAX_ADDRESSES = 20


def list_addresses(*, user) -> QuerySet[Address]:
    return Address.objects.filter(user=user).order_by("-is_default", "-created_at", "-id")


def get_address(*, user, address_id) -> Address:
    try:
        return Address.objects.get(pk=int(address_id), user=user)
    except (Address.DoesNotExist, TypeError, ValueError):
        raise NotFound("Choose one of your saved addresses.", code="no_such_address") from None


def normalize_address(data: dict) -> dict:
    """The address as its country's post writes it (what a saved address and an order's
    snapshot keep); ValidationError, one message per field to fix, otherwise."""
    return postal.normalize(data)


@transaction.atomic
def save_address(*, user, data: dict, make_default: bool = False) -> Address:
    """Save an address (or return the identical one already saved).

    The first address a shopper saves becomes their default. Raises ValidationError (one
    message per field to fix) for an address its country's post would not take.
    """
    cleaned = normalize_address(data)
    same = list_addresses(user=user).filter(**cleaned).first()
    if same is not None:
        if make_default and not same.is_default:
            return set_default_address(user=user, address_id=same.pk)
        return same
    existing = list_addresses(user=user)
    if existing.count() >= MAX_ADDRESSES:
        raise ShopFeedError(
            f"You can keep at most {MAX_ADDRESSES} addresses; delete one first.",
            code="too_many_addresses",
        )
    address = Address(user=user, **cleaned)
    address.full_clean()
    address.is_default = make_default or not existing.exists()
    if address.is_default:
        existing.filter(is_default=True).update(is_default=False)
    address.save()
    return address


@transaction.atomic
def set_default_address(*, user, address_id) -> Address:
    address = get_address(user=user, address_id=address_id)
    Address.objects.filter(user=user, is_default=True).exclude(pk=address.pk).update(
        is_default=False
    )
    if not address.is_default:
        address.is_default = True
        address.save(update_fields=["is_default"])
    return address
