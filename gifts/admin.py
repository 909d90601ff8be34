"""Staff tools for gifts: the catalogue (with image preview), sends (read-only), gifting
profiles (freeze / unfreeze with a reason, audited), coin wallets with their history and
manual adjustments (a reason, a balanced posting, an audit row). Actions call services."""

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import transaction
from django.shortcuts import render
from django.utils.html import format_html, format_html_join

from orders.ledger.models import LedgerEntry
from shopfeed.errors import ShopFeedError
from shops.money import format_money

from . import services, wallet
from .models import CoinWallet, DiamondConversion, Gift, GiftingEvent, GiftingProfile, GiftSend

WALLET_HISTORY_ROWS = 100


def _preview(image, size: int = 48):
    if not image:
        return "—"
    return format_html('<img src="{}" alt="" width="{}" height="{}">', image.url, size, size)


@admin.register(Gift)
class GiftAdmin(admin.ModelAdmin):
    list_display = (
        "preview",
        "name",
        "coins",
        "price",
        "is_comboable",
        "is_active",
        "sort_order",
    )
    list_display_links = ("preview", "name")
    list_editable = ("is_active", "sort_order")
    list_filter = ("is_active", "is_comboable")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("large_preview", "created_at", "updated_at")
    fields = (
        "name",
        "slug",
        "coins",
        "image",
        "large_preview",
        "animation",
        "is_comboable",
        "is_active",
        "sort_order",
        "created_at",
        "updated_at",
    )

    @admin.display(description="image")
    def preview(self, gift):
        return _preview(gift.image)

    @admin.display(description="preview")
    def large_preview(self, gift):
        return _preview(gift.image, 128)

    @admin.display(description="money price")
    def price(self, gift):
        amount, currency = wallet.coins_value(gift.coins)
        return format_money(amount, currency)

    def has_delete_permission(self, request, obj=None):
        # Sends point at their gift for ever: retire a gift by unticking "active".
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(GiftSend)
class GiftSendAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "sender",
        "host",
        "gift",
        "count",
        "coins_total",
        "creator_diamonds",
        "session_id",
        "conversion",
    )
    list_filter = ("context", "gift")
    search_fields = ("sender__handle", "host__handle", "client_token")
    list_select_related = ("sender", "host", "gift")
    date_hierarchy = "created_at"
    raw_id_fields = ("sender", "host", "gift", "ledger_transaction", "conversion")


@admin.register(DiamondConversion)
class DiamondConversionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "creator", "diamonds", "money", "diamond_value")
    search_fields = ("creator__handle",)
    list_select_related = ("creator",)

    @admin.display(description="amount")
    def money(self, conversion):
        return format_money(conversion.amount, conversion.currency)


@admin.register(GiftingEvent)
class GiftingEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "user", "kind", "coins", "actor", "reason")
    list_filter = ("kind",)
    search_fields = ("user__handle", "actor__handle", "reason")
    list_select_related = ("user", "actor")


def _with_reason(modeladmin, request, queryset, *, action, question, button, apply, label, coins):
    """An action's intermediate page asking for a reason (and coins), then applying it."""
    reason = (request.POST.get("reason") or "").strip()
    raw_coins = (request.POST.get("coins") or "").strip()
    if "apply" in request.POST:
        amount = None
        if coins:
            try:
                amount = int(raw_coins)
            except ValueError:
                modeladmin.message_user(request, "Enter a whole number of coins.", messages.ERROR)
                return None
        if not reason:
            modeladmin.message_user(request, "Give a reason.", messages.ERROR)
            return None
        try:
            with transaction.atomic():
                for row in queryset:
                    apply(row, reason, amount)
        except ShopFeedError as exc:
            modeladmin.message_user(request, exc.message, messages.ERROR)
        return None
    return render(
        request,
        "admin/gifts/reason.html",
        {
            **modeladmin.admin_site.each_context(request),
            "rows": [{"pk": row.pk, "label": label(row)} for row in queryset],
            "reason": reason,
            "coins": raw_coins,
            "ask_coins": coins,
            "question": question,
            "button": button,
            "action": action,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "title": button,
            "opts": modeladmin.model._meta,
        },
    )


@admin.register(GiftingProfile)
class GiftingProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "daily_coin_cap", "show_supporter_level", "frozen_at", "frozen_reason")
    list_filter = (("frozen_at", admin.EmptyFieldListFilter), "show_supporter_level")
    search_fields = ("user__handle", "user__email")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    # Freezing goes through the actions, so it always has a reason and an audit row.
    readonly_fields = ("frozen_at", "frozen_reason", "updated_at", "audit")
    actions = ["freeze", "unfreeze"]

    @admin.display(description="audit trail")
    def audit(self, profile):
        events = GiftingEvent.objects.filter(user_id=profile.user_id).select_related("actor")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (e.created_at, e.get_kind_display(), e.coins or "", e.actor or "system", e.reason)
                for e in events[:100]
            ),
        )
        return format_html(
            "<table><tr><th>when</th><th>what</th><th>coins</th><th>by</th><th>reason</th></tr>"
            "{}</table>",
            rows,
        )

    @admin.action(description="Freeze gift sending of the selected users (asks for a reason)")
    def freeze(self, request, queryset):
        def apply(profile, reason, _coins):
            services.freeze_gifting(user=profile.user, reason=reason, by=request.user)
            self.log_change(request, profile, f"Froze gifting: {reason}")
            self.message_user(request, f"Gifting of {profile.user} is frozen.")

        return _with_reason(
            self,
            request,
            queryset.select_related("user"),
            action="freeze",
            question="Freeze these users' gift sending? They cannot send until unfrozen.",
            button="Freeze gifting",
            apply=apply,
            label=lambda p: str(p.user),
            coins=False,
        )

    @admin.action(description="Unfreeze gift sending of the selected users (asks for a reason)")
    def unfreeze(self, request, queryset):
        def apply(profile, reason, _coins):
            services.unfreeze_gifting(user=profile.user, reason=reason, by=request.user)
            self.log_change(request, profile, f"Unfroze gifting: {reason}")
            self.message_user(request, f"Gifting of {profile.user} is unfrozen.")

        return _with_reason(
            self,
            request,
            queryset.select_related("user"),
            action="unfreeze",
            question="Let these users send gifts again?",
            button="Unfreeze gifting",
            apply=apply,
            label=lambda p: str(p.user),
            coins=False,
        )


@admin.register(CoinWallet)
class CoinWalletAdmin(ReadOnlyAdmin):
    list_display = ("user", "balance_amount", "created_at")
    search_fields = ("user__handle", "user__email")
    list_select_related = ("user",)
    fields = ("user", "balance_amount", "created_at", "history")
    readonly_fields = fields
    actions = ["adjust"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff

    @admin.display(description=f"history (last {WALLET_HISTORY_ROWS} entries)")
    def history(self, acct):
        entries = (
            LedgerEntry.objects.filter(account=acct)
            .select_related("transaction")
            .order_by("-pk")[:WALLET_HISTORY_ROWS]
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (e.transaction.created_at, f"{e.amount:+d}", e.transaction.kind, e.transaction.memo)
                for e in entries
            ),
        )
        return format_html(
            "<table><tr><th>when</th><th>coins</th><th>kind</th><th>memo</th></tr>{}</table>",
            rows,
        )

    @admin.action(description="Adjust coins of the selected wallets (asks for coins and a reason)")
    def adjust(self, request, queryset):
        def apply(acct, reason, coins):
            event = wallet.adjust_coins(user=acct.user, coins=coins, reason=reason, by=request.user)
            self.log_change(request, acct, f"Adjusted {coins:+d} coins: {reason}")
            self.message_user(request, f"{coins:+d} coins for {acct.user} (audit {event.pk}).")

        return _with_reason(
            self,
            request,
            queryset.select_related("user"),
            action="adjust",
            question="Adjust these wallets? Each posting is balanced against the platform's "
            "coin adjustments account and audited.",
            button="Adjust coins",
            apply=apply,
            label=lambda a: f"{a.user} ({a.balance_amount} coins)",
            coins=True,
        )
