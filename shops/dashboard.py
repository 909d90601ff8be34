"""Creator dashboard pages. (Placeholder bodies; being built.)"""

from django.http import HttpResponse


def overview(request):
    return HttpResponse("dashboard")


shop_edit = product_list = product_create = overview


def product_edit(request, pk):
    return HttpResponse("edit")


product_archive = product_edit


def arrange_tab(request):
    return HttpResponse("tab")
