from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import Follow, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "handle", "email", "display_name", "is_creator", "is_staff")
    list_filter = ("is_creator", "is_staff", "is_superuser", "is_active")
    search_fields = ("username", "handle", "email", "display_name")
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        (
            "Profile",
            {"fields": ("handle", "display_name", "avatar", "bio", "birth_date", "is_creator")},
        ),
    )
    add_fieldsets = (
        *BaseUserAdmin.add_fieldsets,
        ("Profile", {"fields": ("handle", "email", "is_creator")}),
    )


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin):
    list_display = ("follower", "creator", "created_at")
    search_fields = ("follower__handle", "creator__handle")
    raw_id_fields = ("follower", "creator")
