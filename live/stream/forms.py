from django import forms
from django.utils import timezone

from shops.images import IMAGE_ACCEPT, validate_image_file


class LineupField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return obj.title


class SessionForm(forms.Form):
    title = forms.CharField(max_length=120)
    scheduled_at = forms.DateTimeField(
        label="Start time",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
    )
    # A plain file field: forms.ImageField would try every format Pillow knows.
    cover = forms.FileField(
        required=False,
        validators=[validate_image_file],
        widget=forms.ClearableFileInput(attrs={"accept": IMAGE_ACCEPT}),
    )
    product_ids = LineupField(
        label="Lineup",
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Active products from your shopping tab, shown in this order in the live.",
    )

    def __init__(self, *args, products, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product_ids"].queryset = products
        self.fields[
            "scheduled_at"
        ].help_text = f"Times are in {timezone.get_current_timezone_name()}."

    def lineup_ids(self) -> list[int]:
        # Keep the order of the choices (the shopping tab's order), not of the POST.
        chosen = {p.pk for p in self.cleaned_data.get("product_ids") or ()}
        return [p.pk for p in self.fields["product_ids"].queryset if p.pk in chosen]
