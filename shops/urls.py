from django.urls import include, path

from . import views

app_name = "shops"

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("dashboard/", include("shops.dashboard_urls")),
    path("@<str:handle>/", views.profile, name="profile"),
    path("@<str:handle>/products/<slug:product>/", views.product_detail, name="product-detail"),
]
