from django.conf import settings
from django.contrib import admin
from django.http import HttpResponseRedirect
from django.templatetags.static import static
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from orders.payments.webhooks import stripe_webhook
from shopfeed.accounts import views as account_views
from shopfeed.media import serve_media


def favicon(request):
    # Browsers ask for /favicon.ico whatever a page links. Not permanent: the static URL
    # carries a content hash in production and changes with the icon.
    return HttpResponseRedirect(static("favicon.ico"))


urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("accounts/signup/", account_views.signup, name="signup"),
    path("accounts/login/", account_views.LoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("@<str:handle>/follow/", account_views.follow_toggle, name="follow"),
    path("api/v1/", include("shopfeed.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its script as a file: the page needs nothing inline (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("stripe/webhook/", stripe_webhook, name="stripe-webhook"),
    path("live/", include("live.urls")),
    path("", include("orders.urls")),
    path("", include("gifts.urls")),
    path("", include("shops.urls")),
]

handler400 = "shopfeed.api.bad_request"
handler403 = "shopfeed.api.permission_denied"
handler404 = "shopfeed.api.page_not_found"
handler500 = "shopfeed.api.server_error"

# Only a same-origin MEDIA_URL (a path) is ours to serve; an absolute one is another server.
if settings.SERVE_MEDIA and settings.MEDIA_URL.startswith("/"):
    urlpatterns.insert(0, re_path(rf"^{settings.MEDIA_URL.lstrip('/')}(?P<path>.*)$", serve_media))
