"""Privacy pages: download my data, delete my account."""

from django import forms
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from shopfeed.errors import ShopFeedError

from ..models import DataExport
from . import services


class DeleteAccountForm(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput, label="Your password")
    confirmation = forms.CharField(
        label=f"Type {services.DELETE_CONFIRMATION} to confirm", max_length=20
    )


def _page(request, form=None, status=200):
    exports = DataExport.objects.filter(user=request.user)[:5]
    return render(
        request,
        "accounts/privacy.html",
        {"exports": exports, "form": form or DeleteAccountForm()},
        status=status,
    )


@login_required
@require_GET
def privacy(request):
    return _page(request)


@login_required
@require_POST
def request_export(request):
    try:
        services.request_data_export(user=request.user)
    except ShopFeedError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "We are preparing your data and will email you a link.")
    return redirect("privacy:page")


@login_required
@require_GET
def download(request, export_id):
    try:
        export = services.get_download(user=request.user, export_id=export_id)
    except ShopFeedError as exc:
        raise Http404(exc.message) from None
    return FileResponse(export.archive.open("rb"), as_attachment=True, filename="shopfeed-data.zip")


@login_required
@require_POST
def delete_account(request):
    form = DeleteAccountForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        services.delete_account(user=request.user, **form.cleaned_data)
    except ShopFeedError as exc:
        form.add_error(exc.field, exc.message)
        return _page(request, form, status=400)
    logout(request)
    messages.success(request, "Your account and personal data are deleted.")
    return redirect("/")
