"""Addresses in their country's layout: `{{ order.shipping_address|address_lines }}` (a list of
lines) and `{{ address|address_line }}` (one line). Takes a saved Address or an order's
address snapshot."""

from django import template

from orders.addresses.postal import format_lines
from orders.models import Address

register = template.Library()


def _data(address) -> dict:
    if isinstance(address, Address):
        return address.snapshot()
    return dict(address or {})


@register.filter
def address_lines(address) -> list[str]:
    return format_lines(_data(address)) if address else []


@register.filter
def address_line(address) -> str:
    return ", ".join(address_lines(address))
