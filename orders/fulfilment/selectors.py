"""Order lists: a buyer's history and a seller's orders (with search), loaded in fixed queries."""

from django.db.models import Q, QuerySet

from shops.models import Shop

from ..models import Order


def buyer_orders(user) -> QuerySet[Order]:
    """The buyer's orders, newest first, with what the history shows loaded in fixed queries."""
    return (
        Order.objects.filter(buyer=user)
        .select_related("shop", "shop__owner")
        .prefetch_related("items")
        .order_by("-created_at", "-pk")
    )


def seller_orders(shop: Shop) -> QuerySet[Order]:
    return (
        Order.objects.filter(shop=shop)
        .select_related("buyer")
        .prefetch_related("items")
        .order_by("-created_at", "-pk")
    )


def search_orders(queryset: QuerySet[Order], q: str) -> QuerySet[Order]:
    """By order number ("1042" or "#1042") or by the buyer's handle, email or name."""
    q = q.strip()
    if not q:
        return queryset
    handle = q.lstrip("@")
    cond = (
        Q(buyer__email__icontains=q)
        | Q(buyer__display_name__icontains=q)
        | Q(shipping_address__full_name__icontains=q)
    )
    if handle:
        cond |= Q(buyer__handle__icontains=handle)
    number = q.lstrip("#")
    if number.isdigit() and len(number) <= 18:
        cond |= Q(pk=int(number))
    return queryset.filter(cond)
