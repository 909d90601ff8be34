"""Filters and sorts shared by the shopping-tab page, search page and the API."""

import django_filters

from .models import Category, Product
from .selectors import apply_search

SORTS = {
    "newest": ("-created_at",),
    "price": ("min_price_amount",),
    "-price": ("-max_price_amount",),
    "popular": ("-sold_count",),
}


class ProductFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label="Search")
    category = django_filters.ModelChoiceFilter(
        queryset=Category.objects.all(), to_field_name="slug", label="Category"
    )
    min_price = django_filters.NumberFilter(
        field_name="max_price_amount", lookup_expr="gte", label="Min price (cents)", min_value=0
    )
    max_price = django_filters.NumberFilter(
        field_name="min_price_amount", lookup_expr="lte", label="Max price (cents)", min_value=0
    )
    in_stock = django_filters.BooleanFilter(method="filter_in_stock", label="In stock only")
    sort = django_filters.ChoiceFilter(
        method="filter_sort",
        label="Sort",
        empty_label="Featured",
        choices=[
            ("newest", "Newest"),
            ("price", "Price: low to high"),
            ("-price", "Price: high to low"),
            ("popular", "Popularity"),
        ],
    )

    class Meta:
        model = Product
        fields = ["q", "category", "min_price", "max_price", "in_stock"]

    def filter_q(self, queryset, name, value):
        return apply_search(queryset, value)

    def filter_in_stock(self, queryset, name, value):
        if value:
            return queryset.filter(in_stock=True)
        return queryset

    def filter_sort(self, queryset, name, value):
        order = SORTS.get(value)
        return queryset.order_by(*order, "-pk") if order else queryset
