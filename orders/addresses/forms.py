"""The shipping address form, shared by the checkout page and the live page's one-tap buy."""

from django import forms
from django.core.exceptions import ValidationError

from ..models import Address
from . import postal


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
            "region": "State / province / region",
            "postal_code": "ZIP / postal code",
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
            raise ValidationError(postal.COUNTRY_MESSAGE)
        return country

    def clean(self):
        """Check the address by its country's rules; hand on the normalised fields."""
        cleaned = super().clean()
        data = {f: cleaned.get(f, self.data.get(f, "")) for f in postal.FIELDS}
        try:
            normalized = postal.normalize(data)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                if field not in self.errors:  # one message per field: the first problem
                    self.add_error(field if field in self.fields else None, messages)
            return cleaned
        if not self.errors:
            cleaned.update(normalized)
        return cleaned
