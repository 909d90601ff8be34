"""Staff tools for coins: packs and their prices, purchases (read-only, with a refund action
that calls the service), and card disputes (resolve, and unfreeze the buyer, with a note).

Registered from GiftsConfig.ready(), beside the gifts admin of gifts/admin.py."""

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.shortcuts import render

from shopfeed.admin_utils import ReadOnlyInline
from shopfeed.errors import ShopFeedError
from shops.money import format_money

from . import services
from .models import CoinDispute, CoinPack, CoinPackPrice, CoinPurchase, CoinRefund


class CoinPackPriceInline(admin.TabularInline):
    model = CoinPackPrice
    extra = 1
    fields = ("currency", "price_amount")


@admin.register(CoinPack)
class CoinPackAdmin(admin.ModelAdmin):
    list_display = ("__str__", "coins", "prices_display", "is_active", "sort_order")
    list_editable = ("is_active", "sort_order")
    list_filter = ("is_active",)
    inlines = [CoinPackPriceInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("prices")

    @admin.display(description="prices")
    def prices_display(self, obj):
        return ", ".join(format_money(p.price_amount, p.currency) for p in obj.prices.all()) or "—"


class CoinRefundInline(ReadOnlyInline):
    model = CoinRefund
    fields = (
        "coins",
        "refund_amount",
        "currency",
        "status",
        "requested_by",
        "stripe_refund_id",
        "last_error",
        "created_at",
    )
    readonly_fields = fields


class CoinDisputeInline(ReadOnlyInline):
    model = CoinDispute
    fields = ("stripe_dispute_id", "status", "coins_reclaimed", "coins_spent", "created_at")
    readonly_fields = fields


@admin.register(CoinPurchase)
class CoinPurchaseAdmin(admin.ModelAdmin):
    list_display = (
        "pk",
        "buyer",
        "coins",
        "money",
        "status",
        "coins_refunded",
        "coins_reclaimed",
        "created_at",
        "paid_at",
    )
    list_filter = ("status", "currency")
    search_fields = ("buyer__handle", "buyer__email", "payment_intent_id")
    list_select_related = ("buyer",)
    inlines = [CoinRefundInline, CoinDisputeInline]
    actions = ["refund_unused"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="paid")
    def money(self, obj):
        return format_money(obj.total_amount, obj.currency)

    @admin.action(description="Refund the unused coins of the selected purchases")
    def refund_unused(self, request, queryset):
        for purchase in queryset.select_related("buyer"):
            try:
                refund = services.refund_unused_coins(
                    purchase=purchase, by=request.user, reason="Refunded by staff"
                )
            except ShopFeedError as exc:
                self.message_user(request, f"Purchase {purchase.pk}: {exc.message}", messages.ERROR)
                continue
            self.log_change(request, purchase, f"Refunded {refund.coins} unused coins")
            self.message_user(
                request,
                f"Purchase {purchase.pk}: {refund.coins} coins refunded "
                f"({format_money(refund.refund_amount, refund.currency)}).",
            )


class OpenFilter(admin.SimpleListFilter):
    title = "staff decision"
    parameter_name = "resolved"

    def lookups(self, request, model_admin):
        return [("no", "Waiting for staff"), ("yes", "Resolved")]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(CoinDispute)
class CoinDisputeAdmin(admin.ModelAdmin):
    list_display = (
        "stripe_dispute_id",
        "buyer",
        "purchase",
        "status",
        "disputed",
        "coins_reclaimed",
        "coins_spent",
        "created_at",
        "resolved_at",
    )
    list_filter = (OpenFilter, "status")
    search_fields = ("stripe_dispute_id", "purchase__buyer__handle", "purchase__payment_intent_id")
    list_select_related = ("purchase", "purchase__buyer")
    actions = ["resolve_and_unfreeze", "resolve_keep_frozen"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="buyer")
    def buyer(self, obj):
        return obj.purchase.buyer

    @admin.display(description="disputed")
    def disputed(self, obj):
        return format_money(obj.disputed_amount, obj.currency)

    def _resolve(self, request, queryset, *, unfreeze: bool, action: str, button: str, question):
        note = (request.POST.get("note") or "").strip()
        if "apply" in request.POST:
            for dispute in queryset.select_related("purchase", "purchase__buyer"):
                try:
                    services.resolve_dispute(
                        dispute=dispute, by=request.user, note=note, unfreeze=unfreeze
                    )
                except ShopFeedError as exc:
                    self.message_user(request, exc.message, messages.ERROR)
                    return None
                self.log_change(request, dispute, f"Resolved ({button}): {note}")
            self.message_user(request, f"{queryset.count()} dispute(s) resolved.")
            return None
        return render(
            request,
            "admin/gifts/dispute_resolve.html",
            {
                **self.admin_site.each_context(request),
                "disputes": queryset.select_related("purchase", "purchase__buyer"),
                "note": note,
                "question": question,
                "button": button,
                "action": action,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "title": button,
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Resolve and let the buyer send gifts again (asks for a note)")
    def resolve_and_unfreeze(self, request, queryset):
        return self._resolve(
            request,
            queryset,
            unfreeze=True,
            action="resolve_and_unfreeze",
            button="Resolve and unfreeze",
            question="Resolve these disputes and unfreeze the buyers' gift sending?",
        )

    @admin.action(description="Resolve and keep the buyer frozen (asks for a note)")
    def resolve_keep_frozen(self, request, queryset):
        return self._resolve(
            request,
            queryset,
            unfreeze=False,
            action="resolve_keep_frozen",
            button="Resolve, keep frozen",
            question="Resolve these disputes and keep the buyers' gift sending frozen?",
        )
