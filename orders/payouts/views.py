"""The seller's money page: balance, pending, withdrawable, in transit, payout history, and
where payouts go. Everything is loaded through the signed-in user's own shop, so there is no
way to name another seller's figures."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from shopfeed.errors import ShopFeedError
from shops.models import Shop
from shops.money import format_money

from . import selectors
from . import services as payouts


def _own_shop(request) -> Shop | None:
    return Shop.objects.filter(owner=request.user).first()


def _render(request, shop, *, account_value=None, account_error="", status=200):
    account = selectors.payout_account_for(shop)
    if account_value is None:
        account_value = account.stripe_account_id if account else ""
    return render(
        request,
        "orders/payouts.html",
        {
            "shop": shop,
            "active": "payouts",
            "summaries": selectors.seller_payout_summary(shop),
            "history": selectors.payout_history(shop),
            "account": account,
            "account_value": account_value,
            "account_error": account_error,
            "hold_days": settings.PAYOUT_HOLD_DAYS,
            "minimum": format_money(settings.PAYOUT_MINIMUM_AMOUNT, shop.currency),
        },
        status=status,
    )


@login_required
def payouts_page(request):
    shop = _own_shop(request)
    if shop is None:
        messages.info(request, "Open your shop first.")
        return redirect("shops:dashboard")
    return _render(request, shop)


@login_required
@require_POST
def payout_account(request):
    shop = _own_shop(request)
    if shop is None:
        messages.info(request, "Open your shop first.")
        return redirect("shops:dashboard")
    value = request.POST.get("stripe_account_id", "")
    try:
        payouts.set_payout_destination(shop=shop, by=request.user, stripe_account_id=value)
    except ShopFeedError as exc:
        return _render(
            request, shop, account_value=value, account_error=exc.message, status=exc.status_code
        )
    messages.success(request, "Saved: new payouts go to this Stripe account.")
    return redirect("orders:payouts")
