from django import template

from shops.money import format_money

register = template.Library()


@register.filter
def money(amount, currency):
    """{{ variant.price_amount|money:variant.currency }} -> "$39.00"."""
    return format_money(amount, currency)
