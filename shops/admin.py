from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.shortcuts import render
from django.utils.html import format_html

from . import services, tab_cache
from .models import Category, Product, ProductImage, Shop, Tag, Variant


@admin.register(Shop)
class ShopAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "owner", "status", "currency", "created_at")
    list_filter = ("status", "currency")
    search_fields = ("name", "slug", "owner__handle", "owner__email")
    raw_id_fields = ("owner",)
    readonly_fields = ("status", "suspended_reason", "suspended_at", "created_at", "updated_at")
    actions = ["suspend", "reinstate"]

    @admin.action(description="Suspend selected shops (asks for a reason)")
    def suspend(self, request, queryset):
        reason = (request.POST.get("reason") or "").strip()
        if "apply" in request.POST:
            if not reason:
                self.message_user(request, "Give a reason for the suspension.", messages.ERROR)
            else:
                for shop in queryset:
                    services.suspend_shop(shop=shop, reason=reason, by=request.user)
                self.message_user(request, f"Suspended {queryset.count()} shop(s).")
                return None
        return render(
            request,
            "admin/shops/suspend.html",
            {
                **self.admin_site.each_context(request),
                "shops": queryset,
                "reason": reason,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "title": "Suspend shops",
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Reinstate selected shops")
    def reinstate(self, request, queryset):
        for shop in queryset:
            services.reinstate_shop(shop=shop, by=request.user)
        self.message_user(request, f"Reinstated {queryset.count()} shop(s).")


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 0
    fields = (
        "sku",
        "option1",
        "option2",
        "option3",
        "price_amount",
        "compare_at_amount",
        "quantity",
        "position",
    )


class ProductImageInline(admin.TabularInline):
    model = ProductImage
    extra = 0
    fields = ("preview", "image", "alt_text", "position", "source_url")
    readonly_fields = ("preview",)

    @admin.display(description="Preview")
    def preview(self, obj):
        if obj.pk and (obj.thumbnail or obj.image):
            return format_html('<img src="{}" height="60" alt="">', obj.display_url)
        return "—"


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "shop",
        "status",
        "category",
        "is_featured",
        "sold_count",
        "created_at",
    )
    list_filter = ("status", "is_featured", "category", "shop__status")
    search_fields = ("title", "handle", "shop__name", "variants__sku")
    list_select_related = ("shop", "category")
    raw_id_fields = ("shop",)
    filter_horizontal = ("tags",)
    inlines = [VariantInline, ProductImageInline]
    actions = ["archive"]

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for obj in instances:
            if isinstance(obj, Variant):
                obj.shop_id = form.instance.shop_id
                obj.currency = form.instance.shop.currency
            obj.save()
        for obj in formset.deleted_objects:
            obj.delete()
        formset.save_m2m()

    @admin.action(description="Archive selected products")
    def archive(self, request, queryset):
        shop_ids = set(queryset.values_list("shop_id", flat=True))
        n = queryset.update(status=Product.Status.ARCHIVED)
        tab_cache.changed(shop_ids)
        self.message_user(request, f"Archived {n} product(s).")


@admin.register(Variant)
class VariantAdmin(admin.ModelAdmin):
    list_display = (
        "product", "sku", "option1", "option2", "price_amount", "currency", "quantity",
        "flash_sale",
    )  # fmt: skip
    list_filter = ("flash_sale",)
    search_fields = ("sku", "product__title")
    list_select_related = ("product",)
    raw_id_fields = ("product",)
    readonly_fields = ("shop", "currency")

    def save_model(self, request, obj, form, change):
        obj.shop_id = obj.product.shop_id
        obj.currency = obj.product.shop.currency
        super().save_model(request, obj, form, change)


admin.site.register(Category, search_fields=("name",), prepopulated_fields={"slug": ("name",)})
admin.site.register(Tag, search_fields=("name",))
