"""Staff tools for orders; payouts' admin is in payouts/admin.py.

Orders, checkouts and Stripe events are read-only here: status and money change only
through the fulfilment services, which the actions below call (refund in full, cancel,
add a note), so the ledger, Stripe and the order history stay in step.
"""

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from shopfeed.admin_utils import ReadOnlyInline
from shopfeed.errors import ShopFeedError
from shops.money import format_money

from .fulfilment import services
from .models import (
    Checkout,
    FlashReservation,
    Order,
    OrderEvent,
    OrderItem,
    Refund,
    StripeEvent,
)
from .payouts import admin as payouts_admin  # noqa: F401


class OrderItemInline(ReadOnlyInline):
    model = OrderItem
    fields = ("product_title", "variant_label", "sku", "unit_price", "quantity", "line_total")
    readonly_fields = fields

    @admin.display(description="Unit price")
    def unit_price(self, obj):
        return format_money(obj.unit_price_amount, obj.order.currency)

    @admin.display(description="Line total")
    def line_total(self, obj):
        return format_money(obj.line_total_amount, obj.order.currency)


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = (
        "created_at",
        "money",
        "status",
        "reason",
        "stripe_refund_id",
        "idempotency_key",
        "created_by",
    )
    readonly_fields = fields

    @admin.display(description="Amount")
    def money(self, obj):
        return format_money(obj.amount, obj.currency)


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    fields = ("created_at", "kind", "message", "actor", "data")
    readonly_fields = fields


def _money(field: str, description: str):
    @admin.display(description=description, ordering=field)
    def show(self, obj):
        return format_money(getattr(obj, field), obj.currency)

    return show


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "shop",
        "buyer",
        "status",
        "total",
        "refunded",
        "tracking_number",
    )
    list_filter = ("status", ("shop", admin.RelatedOnlyFieldListFilter), "source", "created_at")
    search_fields = (
        "=id",
        "buyer__handle",
        "buyer__email",
        "shop__name",
        "shop__slug",
        "tracking_number",
        "checkout__payment_intent_id",
    )
    list_select_related = ("shop", "buyer")
    date_hierarchy = "created_at"
    inlines = [OrderItemInline, RefundInline, OrderEventInline]
    actions = ["refund_in_full", "cancel_orders", "add_note"]
    fieldsets = (
        (None, {"fields": ("status", "shop", "buyer", "source", "source_ref")}),
        (
            "Money",
            {
                "fields": (
                    "currency",
                    "subtotal",
                    "shipping",
                    "total",
                    "fee",
                    "refunded",
                    "refundable",
                    "seller_net",
                )
            },
        ),
        ("Payment", {"fields": ("payment", "paid_at")}),
        (
            "Fulfilment",
            {
                "fields": (
                    "shipping_address",
                    "carrier",
                    "tracking_number",
                    "shipped_at",
                    "delivered_at",
                    "completed_at",
                    "cancelled_at",
                    "release_at",
                    "released_at",
                )
            },
        ),
        ("Record", {"fields": ("created_at", "updated_at")}),
    )

    subtotal = _money("subtotal_amount", "Subtotal")
    shipping = _money("shipping_amount", "Shipping")
    total = _money("total_amount", "Total")
    fee = _money("fee_amount", "Platform fee")
    refunded = _money("refunded_amount", "Refunded")

    def get_readonly_fields(self, request, obj=None):
        own = [f.name for f in Order._meta.fields]
        return [*own, "subtotal", "shipping", "total", "fee", "refunded", "refundable",
                "seller_net", "payment"]  # fmt: skip

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Refundable")
    def refundable(self, obj):
        return format_money(obj.refundable_amount, obj.currency)

    @admin.display(description="Seller receives")
    def seller_net(self, obj):
        from .ledger.accounting import seller_net

        return format_money(seller_net(obj), obj.currency)

    @admin.display(description="Checkout / payment")
    def payment(self, obj):
        c = obj.checkout
        url = reverse("admin:orders_checkout_change", args=[c.pk])
        return format_html(
            '<a href="{}">Checkout {}</a> · {} · PaymentIntent {} · received {} of {}',
            url,
            c.pk,
            c.get_status_display(),
            c.payment_intent_id or "—",
            format_money(c.amount_received, c.currency),
            format_money(c.total_amount, c.currency),
        )

    # --- actions: each asks for a reason / text on a confirmation page, then calls a service

    def _confirm(self, request, queryset, *, action, title, intro, field_label, required, button):
        text = (request.POST.get("text") or "").strip()
        if "apply" in request.POST:
            if required and not text:
                self.message_user(request, f"{field_label} is required.", messages.ERROR)
            else:
                return text
        render_ctx = {
            **self.admin_site.each_context(request),
            "orders": queryset.select_related("shop", "buyer"),
            "text": text,
            "action": action,
            "intro": intro,
            "field_label": field_label,
            "required": required,
            "button": button,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "title": title,
            "opts": self.model._meta,
        }
        return render(request, "admin/orders/order_action.html", render_ctx)

    def _run_each(self, request, queryset, call, done: str) -> None:
        ok, failed = 0, []
        for order in queryset.order_by("pk"):
            try:
                call(order)
            except ShopFeedError as exc:
                failed.append((order.pk, exc.message))
            else:
                ok += 1
        if ok:
            self.message_user(request, f"{done}: {ok} order(s).", messages.SUCCESS)
        for pk, message in failed:
            self.message_user(request, f"Order {pk}: {message}", messages.ERROR)

    @admin.action(description="Refund selected orders in full (through Stripe)")
    def refund_in_full(self, request, queryset):
        result = self._confirm(
            request,
            queryset,
            action="refund_in_full",
            title="Refund orders in full",
            intro="Refund what is left on each of these orders to the buyer's card?",
            field_label="Reason (shown to the buyer)",
            required=False,
            button="Refund",
        )
        if not isinstance(result, str):
            return result
        self._run_each(
            request,
            queryset,
            lambda order: services.refund_order(
                order=order, by=request.user, amount=order.refundable_amount, reason=result
            ),
            "Refunded in full",
        )
        return None

    @admin.action(description="Cancel selected orders (refunds paid ones, returns stock)")
    def cancel_orders(self, request, queryset):
        result = self._confirm(
            request,
            queryset,
            action="cancel_orders",
            title="Cancel orders",
            intro="Cancel these orders? Stock goes back on sale and paid orders are refunded "
            "in full. Shipped orders cannot be cancelled (refund them instead).",
            field_label="Reason",
            required=True,
            button="Cancel orders",
        )
        if not isinstance(result, str):
            return result
        self._run_each(
            request,
            queryset,
            lambda order: services.cancel_order(order=order, by=request.user, reason=result),
            "Cancelled",
        )
        return None

    @admin.action(description="Add a staff note to selected orders")
    def add_note(self, request, queryset):
        result = self._confirm(
            request,
            queryset,
            action="add_note",
            title="Add a note",
            intro="The note goes on each order's history; only staff see it.",
            field_label="Note",
            required=True,
            button="Add note",
        )
        if not isinstance(result, str):
            return result
        self._run_each(
            request,
            queryset,
            lambda order: services.add_note(order=order, by=request.user, text=result),
            "Note added",
        )
        return None


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Checkout)
class CheckoutAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "buyer", "status", "amount", "payment_intent_id")
    list_filter = ("status", "created_at")
    search_fields = ("=id", "payment_intent_id", "buyer__handle", "buyer__email")
    list_select_related = ("buyer",)
    readonly_fields = ("order_links",)

    @admin.display(description="Total", ordering="total_amount")
    def amount(self, obj):
        return format_money(obj.total_amount, obj.currency)

    @admin.display(description="Orders")
    def order_links(self, obj):
        return format_html_join(
            ", ",
            '<a href="{}">Order {}</a>',
            (
                (reverse("admin:orders_order_change", args=[o.pk]), o.pk)
                for o in obj.orders.order_by("pk")
            ),
        )


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "type", "received_at", "processed_at", "has_error")
    list_filter = ("type", "received_at")
    search_fields = ("event_id", "type")
    date_hierarchy = "received_at"

    @admin.display(boolean=True, description="Error")
    def has_error(self, obj):
        return bool(obj.error)


@admin.register(FlashReservation)
class FlashReservationAdmin(admin.ModelAdmin):
    """What the flash writer made of each reservation (orders.flash): read-only for staff."""

    list_display = ("reservation_id", "status", "variant", "buyer", "quantity", "deal_id",
                    "checkout", "reserved_at", "written_at")  # fmt: skip
    list_filter = ("status",)
    search_fields = ("reservation_id", "buyer__handle", "variant__sku")
    raw_id_fields = ("variant", "buyer", "checkout")
    date_hierarchy = "reserved_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
