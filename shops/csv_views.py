"""Dashboard pages for Shopify product CSV import and export.

An upload is stored and imported by a Celery worker; its page shows the progress (htmx asks
the status endpoint every second) and then the report.
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from .csv_export import export_products_csv
from .csv_import import ImportReport
from .csv_import.jobs import queue_import
from .models import ProductImport, Shop


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
    form = ImportForm()
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            job = queue_import(shop=shop, by=request.user, file=form.cleaned_data["file"])
            return redirect("shops:dashboard-import-detail", pk=job.pk)
    return render(
        request,
        "dashboard/import.html",
        {"shop": shop, "form": form},
        status=400 if form.errors else 200,
    )


def _own_import(request, pk) -> ProductImport:
    """One of the signed-in creator's imports; anyone else's is a 404."""
    return get_object_or_404(
        ProductImport.objects.select_related("shop"), pk=pk, shop__owner=request.user
    )


def _job_context(job: ProductImport) -> dict:
    report = ImportReport.from_dict(job.report) if job.is_finished else None
    return {"job": job, "report": report}


@login_required
@require_GET
def import_detail(request, pk):
    job = _own_import(request, pk)
    context = {"shop": job.shop, "form": ImportForm(), **_job_context(job)}
    return render(request, "dashboard/import.html", context)


@login_required
@require_GET
def import_status(request, pk):
    job = _own_import(request, pk)
    return render(request, "dashboard/_import_status.html", _job_context(job))


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
