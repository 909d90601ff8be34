from django.contrib.auth import login
from django.shortcuts import redirect, render

from .forms import SignupForm


def signup(request):
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("shops:dashboard" if user.is_creator else "shops:home")
    return render(
        request, "registration/signup.html", {"form": form}, status=400 if form.errors else 200
    )
