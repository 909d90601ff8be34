from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from orders.webhooks import stripe_webhook
from shopfeed.accounts import views as account_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/signup/", account_views.signup, name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("@<str:handle>/follow/", account_views.follow_toggle, name="follow"),
    path("api/v1/", include("shopfeed.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("stripe/webhook/", stripe_webhook, name="stripe-webhook"),
    path("live/", include("live.urls")),
    path("", include("orders.urls")),
    path("", include("shops.urls")),
]

handler400 = "shopfeed.api.bad_request"
handler403 = "shopfeed.api.permission_denied"
handler404 = "shopfeed.api.page_not_found"
handler500 = "shopfeed.api.server_error"

if settings.SERVE_MEDIA:
    urlpatterns.insert(
        0,
        re_path(
            rf"^{settings.MEDIA_URL.lstrip('/')}(?P<path>.*)$",
            serve,
            {"document_root": settings.MEDIA_ROOT},
        ),
    )
