"""A shopper's own orders: the history and one order's detail. Anyone else's order is a 404."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from ..models import Order, Refund
from .selectors import buyer_orders

PAGE_SIZE = 20
# Staff notes and failed refund attempts are for staff and the seller, not the buyer.
HIDDEN_FROM_BUYER = ("note", "refund_failed")


@login_required
@require_GET
def order_list(request):
    page = Paginator(buyer_orders(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "orders/order_list.html", {"page": page, "orders": page.object_list})


@login_required
@require_GET
def order_detail(request, pk):
    order = get_object_or_404(
        Order.objects.select_related("shop", "shop__owner"), pk=pk, buyer=request.user
    )
    return render(
        request,
        "orders/order_detail.html",
        {
            "order": order,
            "items": list(order.items.all()),
            "refunds": list(order.refunds.exclude(status=Refund.Status.FAILED)),
            "events": list(order.events.exclude(kind__in=HIDDEN_FROM_BUYER)),
        },
    )
