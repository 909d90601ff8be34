from django import forms


class GiftingSettingsForm(forms.Form):
    daily_coin_cap = forms.IntegerField(
        required=False,
        min_value=1,
        label="Daily gifting limit (coins)",
        help_text="Leave empty for the platform's limit. You can only set it lower.",
    )
    show_supporter_level = forms.BooleanField(
        required=False, label="Show my supporter level beside my name in live chats"
    )
    birth_date = forms.DateField(
        required=False,
        label="Date of birth",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Gifts are for adults: we ask once.",
    )
