"""The shipping address form, shared by the checkout page and the live page's one-tap buy."""

from django import forms
from django.core.exceptions import ValidationError

from ..models import Address


class AddressForm(forms.ModelForm):
    save_address = forms.BooleanField(
        required=False, initial=True, label="Save this address for next time"
    )

    class Meta:
        model = Address
        fields = [
            "full_name",
            "line1",
            "line2",
            "city",
            "region",
            "postal_code",
            "country",
            "phone",
        ]
        labels = {
            "line1": "Address",
            "line2": "Apartment, suite (optional)",
            "region": "State / region",
            "country": "Country code",
        }
        widgets = {
            "full_name": forms.TextInput(attrs={"autocomplete": "name"}),
            "line1": forms.TextInput(attrs={"autocomplete": "address-line1"}),
            "line2": forms.TextInput(attrs={"autocomplete": "address-line2"}),
            "city": forms.TextInput(attrs={"autocomplete": "address-level2"}),
            "region": forms.TextInput(attrs={"autocomplete": "address-level1"}),
            "postal_code": forms.TextInput(attrs={"autocomplete": "postal-code"}),
            "country": forms.TextInput(
                attrs={"autocomplete": "country", "maxlength": 2, "placeholder": "US"}
            ),
            "phone": forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"}),
        }

    def clean_country(self):
        country = self.cleaned_data["country"].strip().upper()
        if len(country) != 2 or not country.isalpha():
            raise ValidationError("Use the two-letter country code, e.g. US or GB.")
        return country
