from django import forms
from django.contrib.auth.forms import UserCreationForm

from .models import User


class SignupForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("handle", "username", "email", "display_name", "is_creator")
        labels = {"is_creator": "I want to open a shop"}

    def clean_handle(self):
        handle = self.cleaned_data["handle"]
        if User.objects.filter(handle__iexact=handle).exists():
            raise forms.ValidationError("That handle is taken.")
        return handle
