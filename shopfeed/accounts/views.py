from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from shopfeed import throttling
from shopfeed.errors import ShopFeedError

from . import services
from .forms import SignupForm
from .models import User


def signup(request):
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("shops:dashboard" if user.is_creator else "shops:home")
    return render(
        request, "registration/signup.html", {"form": form}, status=400 if form.errors else 200
    )


@login_required
@require_POST
def follow_toggle(request, handle):
    creator = get_object_or_404(User, handle__iexact=handle)
    try:
        if request.POST.get("action") == "unfollow":
            services.unfollow(follower=request.user, creator=creator)
        else:
            services.follow(follower=request.user, creator=creator)
    except ShopFeedError as exc:
        messages.error(request, exc.message)
    return redirect("shops:profile", handle=creator.handle)


class LoginView(auth_views.LoginView):
    """Django's login form, with password attempts counted per address (the `login` rate).

    Lockouts per account and address (django-axes) happen inside authentication itself.
    """

    def post(self, request, *args, **kwargs):
        wait = throttling.login_attempt_refused(request)
        if wait is not None:
            return throttling.too_many_attempts(request, wait=wait, code="throttled")
        return super().post(request, *args, **kwargs)
