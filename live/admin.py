"""Staff tools for live: sessions with their lineup and deals, chat moderation, restrictions,
blocked words. State changes go through the services (which also tell the rooms)."""

from django.contrib import admin, messages
from django.utils.html import format_html

from shopfeed.admin_utils import ReadOnlyInline
from shopfeed.errors import ShopFeedError
from shops.money import format_money

from .chat import services as chat
from .models import (
    BlockedWord,
    ChatMessage,
    FlashDeal,
    LineupItem,
    LiveDealClaim,
    LiveSession,
    RoomRestriction,
)
from .selling import services as selling
from .stream import services as sessions
from .stream.summary import session_summary


class LineupItemInline(ReadOnlyInline):
    model = LineupItem
    fields = ("position", "product")
    readonly_fields = fields


class FlashDealInline(ReadOnlyInline):
    model = FlashDeal
    fields = ("product", "price", "quantity", "sold", "status", "starts_at", "ends_at")
    readonly_fields = fields

    @admin.display(description="Deal price")
    def price(self, obj):
        return format_money(obj.deal_price_amount, obj.currency)


def _run_each(model_admin, request, items, call, done: str) -> None:
    ok, failed = 0, []
    for item in items:
        try:
            call(item)
        except ShopFeedError as exc:
            failed.append((item, exc.message))
        else:
            ok += 1
    if ok:
        model_admin.message_user(request, f"{done}: {ok}.", messages.SUCCESS)
    for item, message in failed:
        model_admin.message_user(request, f"{item}: {message}", messages.ERROR)


@admin.register(LiveSession)
class LiveSessionAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "host",
        "shop",
        "status",
        "scheduled_at",
        "started_at",
        "ended_at",
        "peak_viewers",
        "total_viewers",
    )
    list_filter = ("status", "scheduled_at")
    search_fields = ("title", "host__handle", "host__email", "shop__name")
    list_select_related = ("host", "shop")
    # The stream key is a secret: staff never need to read it here.
    fields = (
        "title",
        "host",
        "shop",
        "status",
        "scheduled_at",
        "started_at",
        "ended_at",
        "pinned_product",
        "peak_viewers",
        "total_viewers",
        "gift_goal_coins",
        "gift_goal_title",
        "gift_goal_set_at",
        "summary",
    )
    readonly_fields = fields
    inlines = [LineupItemInline, FlashDealInline]
    actions = ["force_end", "end_running_deals"]

    def has_add_permission(self, request):
        return False  # creators schedule sessions; staff end them

    def has_delete_permission(self, request, obj=None):
        return False  # orders and chat refer to sessions

    @admin.display(description="Summary")
    def summary(self, obj):
        s = session_summary(session=obj)
        best = (
            f"{s.best_seller.title} ({s.best_seller.units} sold)" if s.best_seller else "none yet"
        )
        return format_html(
            "Viewers: {} peak, {} in total · Chat messages: {} ({} removed) · "
            "Orders: {} ({} units) · Revenue: {} · Best seller: {} · "
            "Gifts: {} ({} coins, {} diamonds to the host, from {} viewers)",
            s.peak_viewers,
            s.total_viewers,
            s.chat_messages,
            s.chat_messages_removed,
            s.orders,
            s.units,
            format_money(s.revenue_amount, s.currency) if s.currency else s.revenue_amount,
            best,
            s.gifts.gifts,
            s.gifts.coins,
            s.gifts.diamonds,
            s.gifts.senders,
        )

    @admin.action(description="Force-end selected sessions (and their running deals)")
    def force_end(self, request, queryset):
        _run_each(
            self,
            request,
            queryset.order_by("pk"),
            lambda session: sessions.end_session(session=session, by=request.user),
            "Ended",
        )

    @admin.action(description="End the running flash deal of selected sessions")
    def end_running_deals(self, request, queryset):
        ended = sum(len(selling.end_session_deals(session=s)) for s in queryset.order_by("pk"))
        self.message_user(request, f"Ended {ended} deal(s).", messages.SUCCESS)


@admin.register(FlashDeal)
class FlashDealAdmin(admin.ModelAdmin):
    list_display = (
        "pk",
        "session",
        "product",
        "price",
        "quantity",
        "sold",
        "remaining",
        "status",
        "ends_at",
    )
    list_filter = ("status", "starts_at")
    search_fields = ("session__title", "product__title", "session__host__handle")
    list_select_related = ("session", "product")
    fields = (
        "session",
        "product",
        "price",
        "quantity",
        "sold",
        "remaining",
        "status",
        "starts_at",
        "ends_at",
        "created_at",
    )
    readonly_fields = fields
    actions = ["end_deals"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Deal price")
    def price(self, obj):
        return format_money(obj.deal_price_amount, obj.currency)

    @admin.action(description="End selected deals now")
    def end_deals(self, request, queryset):
        _run_each(
            self,
            request,
            queryset.select_related("session").order_by("pk"),
            lambda deal: selling.end_deal(deal=deal, by=request.user),
            "Ended",
        )


@admin.register(LiveDealClaim)
class LiveDealClaimAdmin(admin.ModelAdmin):
    list_display = ("pk", "deal", "checkout", "quantity", "created_at", "released_at")
    list_filter = ("released_at",)
    search_fields = ("deal__pk", "checkout__pk")
    readonly_fields = ("deal", "checkout", "quantity", "created_at", "released_at")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DeletedFilter(admin.SimpleListFilter):
    title = "moderation"
    parameter_name = "removed"

    def lookups(self, request, model_admin):
        return [("yes", "Removed"), ("no", "Visible")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        return queryset


@admin.register(ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin):
    list_display = ("created_at", "session", "user", "text", "removed")
    list_filter = (DeletedFilter, "created_at")
    search_fields = ("text", "user__handle", "session__title")
    list_select_related = ("session", "user")
    fields = ("session", "user", "text", "created_at", "deleted_at", "deleted_by")
    readonly_fields = fields
    actions = ["delete_moderate"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # moderation hides a message and tells the room; rows stay for the record

    @admin.display(boolean=True, description="Removed")
    def removed(self, obj):
        return obj.deleted_at is not None

    @admin.action(description="Delete (moderate): hide selected messages from the room")
    def delete_moderate(self, request, queryset):
        _run_each(
            self,
            request,
            queryset.filter(deleted_at__isnull=True).order_by("pk"),
            lambda message: chat.delete_message(message=message, by=request.user),
            "Removed",
        )


@admin.register(RoomRestriction)
class RoomRestrictionAdmin(admin.ModelAdmin):
    list_display = ("user", "kind", "host", "until", "reason", "created_by", "created_at")
    list_filter = ("kind", "created_at")
    search_fields = ("user__handle", "host__handle", "reason")
    list_select_related = ("user", "host", "created_by")
    raw_id_fields = ("host", "user", "created_by")
    readonly_fields = ("created_at",)


@admin.register(BlockedWord)
class BlockedWordAdmin(admin.ModelAdmin):
    list_display = ("word", "shop")
    search_fields = ("word", "shop__name")
    list_select_related = ("shop",)
    raw_id_fields = ("shop",)
