"""The seller's order action forms (ship, refund, cancel) and money amounts typed by people."""

from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError

from shops.money import currency_exponent

from . import services

MAX_MINOR_AMOUNT = 10**13


def parse_amount(text: str, currency: str) -> int:
    """ "12.50" in USD -> 1250, exactly (Decimal, never float); refuses sub-cent digits."""
    cleaned = (text or "").strip().lstrip("$€£¥").replace(",", "").strip()
    exp = currency_exponent(currency)
    example = "12.50" if exp else "1250"
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValidationError(f"Enter an amount like {example}.") from None
    if not value.is_finite():
        raise ValidationError(f"Enter an amount like {example}.")
    minor = value.scaleb(exp)
    if minor != minor.to_integral_value():
        raise ValidationError(
            f"Use at most {exp} decimal places." if exp else "Use whole amounts (no decimals)."
        )
    if minor < 1:
        raise ValidationError("Enter an amount greater than zero.")
    if minor > MAX_MINOR_AMOUNT:
        raise ValidationError("That amount is larger than any order.")
    return int(minor)


class _ActionForm(forms.Form):
    """Several action forms share the order page: give each its own element ids."""

    id_prefix = ""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", f"{self.id_prefix}_%s")
        super().__init__(*args, **kwargs)


class ShipForm(_ActionForm):
    id_prefix = "ship"
    carrier = forms.CharField(max_length=services.CARRIER_MAX)
    tracking_number = forms.CharField(max_length=services.TRACKING_MAX)


class RefundForm(_ActionForm):
    id_prefix = "refund"
    amount = forms.CharField(
        max_length=30, help_text="In the order's currency, e.g. 12.50 for $12.50."
    )
    reason = forms.CharField(max_length=services.REASON_MAX, required=False)

    def __init__(self, *args, currency: str, **kwargs):
        self.currency = currency
        super().__init__(*args, **kwargs)

    def clean_amount(self) -> int:
        return parse_amount(self.cleaned_data["amount"], self.currency)


class CancelForm(_ActionForm):
    id_prefix = "cancel"
    reason = forms.CharField(
        max_length=services.REASON_MAX, help_text="The buyer sees this reason."
    )
