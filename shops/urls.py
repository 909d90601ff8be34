from django.urls import include, path

from . import views

app_name = "shops"

urlpatterns = [
    # The product grid; the home page is the video feed (shopfeed.feed).
    path("shop/", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("dashboard/", include("shops.dashboard_urls")),
    path("@<str:handle>/", views.profile, name="profile"),
    path("@<str:handle>/products/<slug:product>/", views.product_detail, name="product-detail"),
]
