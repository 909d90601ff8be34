"""Gift pages: a creator's earnings (diamonds, their money value, per-session totals) and a
user's own gifting settings. Everything is loaded through the signed-in user, so there is no
way to name another user's figures."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from shopfeed.errors import ShopFeedError
from shops.models import Shop

from . import selectors, services
from .earnings import services as earnings
from .forms import GiftingSettingsForm


@login_required
def earnings_page(request):
    creator = request.user
    return render(
        request,
        "gifts/earnings.html",
        {
            "shop": Shop.objects.filter(owner=creator).first(),
            "active": "gifts",
            "summary": earnings.earnings_summary(creator),
            "sessions": selectors.session_totals(creator),
            "recent": selectors.recent_gifts_received(creator),
            "hold_days": settings.PAYOUT_HOLD_DAYS,
            "share": settings.GIFTS_CREATOR_SHARE_PERCENT,
        },
    )


@login_required
def settings_page(request):
    user = request.user
    profile = services.gifting_profile(user)
    if request.method == "POST":
        form = GiftingSettingsForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            changes = {
                "daily_coin_cap": data["daily_coin_cap"],
                "show_supporter_level": data["show_supporter_level"],
            }
            if data["birth_date"] and data["birth_date"] != user.birth_date:
                changes["birth_date"] = data["birth_date"]
            try:
                services.update_gifting_settings(user=user, **changes)
            except ShopFeedError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, "Your gifting settings are saved.")
                return redirect("gifts:settings")
        status = 400
    else:
        form = GiftingSettingsForm(
            initial={
                "daily_coin_cap": profile.daily_coin_cap,
                "show_supporter_level": profile.show_supporter_level,
                "birth_date": user.birth_date,
            }
        )
        status = 200
    return render(
        request,
        "gifts/settings.html",
        {
            "form": form,
            "profile": profile,
            "summary": selectors.wallet_summary(user),
            "platform_cap": services.platform_daily_cap(),
        },
        status=status,
    )
