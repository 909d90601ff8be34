from django import forms

from .models import VideoReport


class ReportForm(forms.Form):
    reason = forms.ChoiceField(
        choices=VideoReport.Reason.choices, widget=forms.RadioSelect, label="What is wrong?"
    )
    note = forms.CharField(
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Anything our team should know (optional)",
    )
