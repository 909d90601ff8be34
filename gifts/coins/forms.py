from django import forms

from .services import sold_currencies

MAX_INT = 2_147_483_647


class BuyCoinsForm(forms.Form):
    """A pack (its id) or an exact number of coins; one-tap pays with the saved card."""

    pack = forms.IntegerField(required=False, min_value=1, max_value=MAX_INT)
    coins = forms.IntegerField(required=False, min_value=1, max_value=MAX_INT, label="Coins")
    currency = forms.ChoiceField(required=False, choices=[])
    one_tap = forms.BooleanField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = [(c, c) for c in sold_currencies()]

    def clean(self):
        data = super().clean()
        if not self.errors and (data.get("pack") is None) == (data.get("coins") is None):
            raise forms.ValidationError("Choose a pack or enter a number of coins.")
        return data
