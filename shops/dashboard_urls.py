"""Creator dashboard routes (included under /dashboard/ in the `shops` namespace)."""

from django.urls import path

from . import csv_views, dashboard

urlpatterns = [
    path("", dashboard.overview, name="dashboard"),
    path("shop/", dashboard.shop_edit, name="dashboard-shop"),
    path("products/", dashboard.product_list, name="dashboard-products"),
    path("products/new/", dashboard.product_create, name="dashboard-product-create"),
    path("products/<int:pk>/", dashboard.product_edit, name="dashboard-product-edit"),
    path("products/<int:pk>/archive/", dashboard.product_archive, name="dashboard-product-archive"),
    path("tab/", dashboard.arrange_tab, name="dashboard-tab"),
    path("import/", csv_views.import_products, name="dashboard-import"),
    path("import/<int:pk>/", csv_views.import_detail, name="dashboard-import-detail"),
    path("import/<int:pk>/status/", csv_views.import_status, name="dashboard-import-status"),
    path("export.csv", csv_views.export_products, name="dashboard-export"),
]
