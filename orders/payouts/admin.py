"""Staff tools for payouts: hold or release a seller's payouts (with a reason), see every
payout by status with its last error, and retry sending. Actions call orders.payouts.services."""

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import transaction
from django.shortcuts import render
from django.utils import timezone

from shopfeed.errors import ShopFeedError
from shops.money import format_money

from ..models import Payout, PayoutAccount
from . import selectors
from . import services as payouts
from .tasks import enqueue_send


@admin.register(PayoutAccount)
class PayoutAccountAdmin(admin.ModelAdmin):
    list_display = ("shop", "stripe_account_id", "payouts_held", "hold_reason", "updated_at")
    list_filter = ("payouts_held",)
    search_fields = ("shop__name", "shop__slug", "shop__owner__handle", "stripe_account_id")
    list_select_related = ("shop",)
    raw_id_fields = ("shop",)
    # Holding goes through the actions, so it always has a reason and a log entry.
    readonly_fields = ("payouts_held", "hold_reason", "updated_at")
    actions = ["hold", "release"]

    def _with_reason(self, request, queryset, *, action, question, button, apply, shown):
        reason = (request.POST.get("reason") or "").strip()
        if "apply" in request.POST:
            if not reason:
                self.message_user(request, "Give a reason.", messages.ERROR)
            else:
                try:
                    with transaction.atomic():
                        for acct in queryset.select_related("shop"):
                            apply(acct, reason)
                except ShopFeedError as exc:
                    self.message_user(request, exc.message, messages.ERROR)
                return None
        return render(
            request,
            "admin/orders/payout_reason.html",
            {
                **self.admin_site.each_context(request),
                "accounts": queryset.select_related("shop", "shop__owner"),
                "reason": reason,
                "question": question,
                "button": button,
                "action": action,
                "shown_to_seller": shown,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "title": button,
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Hold payouts of the selected sellers (asks for a reason)")
    def hold(self, request, queryset):
        def apply(acct, reason):
            payouts.hold_payouts(shop=acct.shop, by=request.user, reason=reason)
            self.log_change(request, acct, f"Held payouts: {reason}")
            self.message_user(request, f"Payouts of {acct.shop} are on hold.")

        return self._with_reason(
            request,
            queryset,
            action="hold",
            question="Hold these sellers' payouts? Nothing is sent to them until released.",
            button="Hold payouts",
            apply=apply,
            shown=True,
        )

    @admin.action(description="Release payouts of the selected sellers (asks for a reason)")
    def release(self, request, queryset):
        def apply(acct, reason):
            payouts.release_payouts(shop=acct.shop, by=request.user, reason=reason)
            self.log_change(request, acct, f"Released payouts: {reason}")
            waiting = payouts.payouts_to_send(now=timezone.now())
            enqueue_send(
                Payout.objects.filter(pk__in=waiting, shop=acct.shop).values_list("pk", flat=True)
            )
            self.message_user(request, f"Payouts of {acct.shop} are released.")

        return self._with_reason(
            request,
            queryset,
            action="release",
            question="Release these sellers' payouts? Waiting payouts are sent now.",
            button="Release payouts",
            apply=apply,
            shown=False,
        )


class NeedsAttentionFilter(admin.SimpleListFilter):
    title = "needs attention"
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [
            ("failed", "Failed"),
            ("stuck", "Unsent with errors, or too old to re-send automatically"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "failed":
            return queryset.filter(status=Payout.Status.FAILED)
        if self.value() == "stuck":
            return queryset.filter(pk__in=selectors.stuck_payouts(now=timezone.now()))
        return queryset


@admin.register(Payout)
class PayoutAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "shop",
        "amount_display",
        "status",
        "attempts",
        "error",
        "destination",
        "stripe_transfer_id",
        "created_at",
        "sent_at",
    )
    list_filter = ("status", NeedsAttentionFilter, "currency", "created_at")
    search_fields = ("=id", "shop__name", "shop__slug", "destination", "stripe_transfer_id")
    list_select_related = ("shop",)
    date_hierarchy = "created_at"
    actions = ["retry_sending"]
    readonly_fields = [f.name for f in Payout._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Amount", ordering="amount")
    def amount_display(self, obj):
        return format_money(obj.amount, obj.currency)

    @admin.display(description="Last error")
    def error(self, obj):
        return obj.last_error[:160] or "—"

    @admin.action(description="Retry sending the selected payouts")
    def retry_sending(self, request, queryset):
        now = timezone.now()
        resend, failed, paid = [], [], 0
        for payout in queryset.select_related("shop"):
            if payout.status in payouts.UNSENT_STATUSES:
                resend.append(payout.pk)
            elif payout.status == Payout.Status.FAILED:
                failed.append(payout)
            else:
                paid += 1
        enqueue_send(resend)
        if resend:
            self.message_user(
                request,
                f"Sending again (same idempotency key, so never twice): "
                f"{', '.join(f'#{pk}' for pk in resend)}.",
            )
        for payout in failed:
            # Its money went back to withdrawable; a new payout (new key) carries it now.
            created = payouts.create_payouts(now=now, shop=payout.shop)
            enqueue_send([p.pk for p in created])
            if created:
                self.message_user(
                    request,
                    f"Payout #{payout.pk} had failed; its money goes out in new payout "
                    f"{', '.join(f'#{p.pk}' for p in created)}.",
                )
            else:
                self.message_user(
                    request,
                    f"Payout #{payout.pk} had failed; nothing sent now for {payout.shop}: "
                    "payouts held, no Stripe account, or withdrawable below the minimum.",
                    messages.WARNING,
                )
        if paid:
            self.message_user(request, f"{paid} payout(s) were already paid; left alone.")
