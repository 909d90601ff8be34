"""`{% link 'name' %}`: `{% url 'name' %}` for a route without arguments, reversed once per
process (per URLconf and script prefix). The site header draws a dozen of these on every page
and each reverse costs tens of microseconds: most of a cached page's rendering time."""

from functools import lru_cache

from django import template
from django.urls import get_script_prefix, get_urlconf, reverse

register = template.Library()


@lru_cache(maxsize=512)
def _reverse(name: str, prefix: str, urlconf) -> str:
    return reverse(name, urlconf=urlconf)


@register.simple_tag
def link(name: str) -> str:
    return _reverse(name, get_script_prefix(), get_urlconf())
