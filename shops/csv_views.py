"""Dashboard pages for Shopify product CSV import and export."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from .csv_export import export_products_csv
from .csv_import import import_products_csv
from .models import Shop


class ImportForm(forms.Form):
    file = forms.FileField(
        label="Shopify product CSV",
        help_text="In Shopify: Products → Export → “Plain CSV file”.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(".csv"):
            raise forms.ValidationError("Choose a .csv file.")
        limit = settings.CSV_IMPORT_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                f"The file is {upload.size / 1_048_576:.1f} MB; "
                f"the limit is {limit / 1_048_576:.0f} MB."
            )
        return upload


def _own_shop(request) -> Shop | None:
    if not request.user.is_creator:
        raise PermissionDenied("Only creator accounts have a shop.")
    try:
        return request.user.shop
    except Shop.DoesNotExist:
        return None


@login_required
@require_http_methods(["GET", "POST"])
def import_products(request):
    shop = _own_shop(request)
    if shop is None:
        messages.info(request, "Open your shop first, then import products into it.")
        return redirect("shops:dashboard")
    report = None
    status = 200
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            report = import_products_csv(shop=shop, by=request.user, file=form.cleaned_data["file"])
            if report.ok:
                messages.success(
                    request,
                    f"Imported: {report.products_created} products created, "
                    f"{report.products_updated} updated.",
                )
                form = ImportForm()
            else:
                status = 400
        else:
            status = 400
    else:
        form = ImportForm()
    return render(
        request,
        "dashboard/import.html",
        {"shop": shop, "form": form, "report": report},
        status=status,
    )


@login_required
@require_GET
def export_products(request):
    shop = _own_shop(request)
    if shop is None:
        messages.info(request, "Open your shop first.")
        return redirect("shops:dashboard")
    response = StreamingHttpResponse(
        export_products_csv(shop=shop, base_url=request.build_absolute_uri("/")),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{shop.slug}-products.csv"'
    return response
