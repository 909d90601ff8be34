"""Download my data and delete my account (registry.py says who adds what)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.files.base import ContentFile
from django.core.mail import send_mail
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone

from shopfeed.errors import ShopFeedError

from ..models import DataExport, Follow, User
from . import registry
from .references import references_to

DELETE_CONFIRMATION = "DELETE"


class TooSoon(ShopFeedError):
    code = "export_pending"
    status_code = 429


# --- download my data ---------------------------------------------------------------------------


def _profile(user: User) -> list[dict]:
    return [
        {
            "username": user.username,
            "handle": user.handle,
            "display_name": user.display_name,
            "email": user.email,
            "bio": user.bio,
            "birth_date": user.birth_date,
            "is_creator": user.is_creator,
            "avatar": user.avatar.name or None,
            "date_joined": user.date_joined,
            "last_login": user.last_login,
        }
    ]


def _follows(user: User) -> list[dict]:
    return [
        {"follows": handle, "since": created}
        for handle, created in Follow.objects.filter(follower=user)
        .order_by("created_at")
        .values_list("creator__handle", "created_at")
    ]


registry.register_exporter("profile", _profile)
registry.register_exporter("follows", _follows)


@transaction.atomic
def request_data_export(*, user: User) -> DataExport:
    """Queue an archive of the user's data; one at a time."""
    if DataExport.objects.filter(user=user, status=DataExport.Status.PENDING).exists():
        raise TooSoon("Your data is already being prepared; we will email you the link.")
    export = DataExport.objects.create(
        user=user,
        expires_at=timezone.now() + timedelta(days=settings.DATA_EXPORT_DAYS),
    )
    from .tasks import build_data_export_task

    transaction.on_commit(lambda: build_data_export_task.delay(export_id=str(export.pk)))
    return export


def export_sections(*, user: User) -> dict[str, list[dict]]:
    return {section: exporter(user) for section, exporter in sorted(registry.EXPORTERS.items())}


def build_data_export(*, export_id) -> DataExport | None:
    """Write the archive (a zip of one JSON file per section) and email its link; running it
    again for a ready export does nothing."""
    export = DataExport.objects.select_related("user").filter(pk=export_id).first()
    if export is None or export.status != DataExport.Status.PENDING:
        return export
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for section, rows in export_sections(user=export.user).items():
            archive.writestr(f"{section}.json", json.dumps(rows, cls=DjangoJSONEncoder, indent=1))
    with transaction.atomic():
        export = DataExport.objects.select_for_update().get(pk=export.pk)
        if export.status != DataExport.Status.PENDING:
            return export
        export.archive.save(f"{export.pk}.zip", ContentFile(buf.getvalue()), save=False)
        export.status = DataExport.Status.READY
        export.ready_at = timezone.now()
        export.save(update_fields=["archive", "status", "ready_at"])
        user = export.user
        link = settings.SITE_URL + reverse("privacy:download", kwargs={"export_id": export.pk})
        expires = export.expires_at
        transaction.on_commit(
            lambda: (
                send_mail(
                    "Your ShopFeed data is ready",
                    f"Hello @{user.handle},\n\nyour data is ready to download (sign in first):\n"
                    f"{link}\n\nThe link works until {expires:%Y-%m-%d %H:%M} UTC.\n",
                    None,
                    [user.email],
                )
                if user.email
                else None
            )
        )
    return export


def expire_data_exports(*, now=None) -> int:
    """Delete expired archives, file and row."""
    now = now or timezone.now()
    expired = list(DataExport.objects.filter(expires_at__lte=now))
    for export in expired:
        if export.archive:
            export.archive.delete(save=False)
        export.delete()
    return len(expired)


def get_download(*, user, export_id) -> DataExport:
    export = DataExport.objects.filter(pk=export_id, user=user).first()
    if export is None or export.status != DataExport.Status.READY:
        raise ShopFeedError("No such download.", code="not_found")
    if export.expires_at <= timezone.now():
        raise ShopFeedError("This link has expired: ask for your data again.", code="expired")
    return export


# --- delete my account ----------------------------------------------------------------------


@transaction.atomic
def delete_account(*, user: User, password: str, confirmation: str) -> None:
    if confirmation != DELETE_CONFIRMATION:
        raise ShopFeedError(
            f"Type {DELETE_CONFIRMATION} to confirm.", code="not_confirmed", field="confirmation"
        )
    if not user.check_password(password or ""):
        raise ShopFeedError("That is not your password.", code="bad_password", field="password")
    user = User.objects.select_for_update().get(pk=user.pk)
    for eraser in registry.ERASERS.values():
        eraser(user)
    for export in DataExport.objects.filter(user=user):
        if export.archive:
            export.archive.delete(save=False)
    for model, field in list(references_to(User)):
        rows = model._base_manager.filter(**{field.name: user})
        if field.remote_field.on_delete is models.CASCADE:
            rows.delete()
        elif field.remote_field.on_delete is models.SET_NULL:
            rows.update(**{field.name: None})
    if user.avatar:
        user.avatar.delete(save=False)
    _anonymise(user)


def _anonymise(user: User) -> None:
    """Keep the row (orders and the ledger point at it), nothing personal in it. A new
    password hash also ends every session (Django checks it on each request)."""
    placeholder = f"deleted-{user.pk}"
    user.username = placeholder
    user.handle = f"deleted_{user.pk}"
    user.email = ""
    user.first_name = user.last_name = user.display_name = user.bio = ""
    user.avatar = ""
    user.birth_date = None
    user.is_active = False
    user.is_creator = False
    user.is_staff = user.is_superuser = False
    user.password = make_password(None)
    user.last_login = None
    user.save()
    user.groups.clear()
    user.user_permissions.clear()
