"""API endpoints of accounts: the token a client trades a password for."""

from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.settings import api_settings

from shopfeed.throttling import AnonThrottle, LoginThrottle


class ObtainTokenView(ObtainAuthToken):
    """DRF's token endpoint, with password attempts counted per address and lockouts applied.

    django-axes marks a lockout on the request it is handed during authentication and its
    middleware answers from there: it must be the Django request, not DRF's wrapper.
    """

    throttle_classes = [LoginThrottle, AnonThrottle]
    # DRF's view names its own parsers; ours refuse NUL and runaway nesting (shopfeed.parsers).
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "request": self.request._request}
