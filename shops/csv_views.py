"""Dashboard pages for Shopify CSV import/export. (Placeholder bodies; being built.)"""

from django.http import HttpResponse


def import_products(request):
    return HttpResponse("import")


def export_products(request):
    return HttpResponse("export")
