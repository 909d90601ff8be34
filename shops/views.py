"""Shopper pages. (Placeholder bodies; being built.)"""

from django.http import HttpResponse


def home(request):
    return HttpResponse("ShopFeed")


def search(request):
    return HttpResponse("search")


def profile(request, handle):
    return HttpResponse(handle)


def product_detail(request, handle, product):
    return HttpResponse(product)
