"""Content-Security-Policy: django-csp's middleware, plus the sources known only at request time.

The static policy is CONTENT_SECURITY_POLICY in settings. Added here, from settings read on each
response (so a test's or an operator's values are the ones in force):

- the page's own host over ws:/wss: for the live room's socket (CSP3's 'self' covers it in
  current browsers, older ones need it spelled out);
- Stripe.js, its API and its frames: js.stripe.com in production, or localstripe's origin, which
  serves both the script and the API, wherever STRIPE_JS_URL points;
- the media server the live player streams HLS from (LIVE_HLS_URL).
"""

from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from django.conf import settings
from django.core.exceptions import DisallowedHost

STRIPE_HOST = "js.stripe.com"
STRIPE_SOURCES = {
    "script-src": ["https://js.stripe.com", "https://*.js.stripe.com"],
    "frame-src": ["https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com"],
    "connect-src": ["https://api.stripe.com"],
}


def origin_of(url: str) -> str | None:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def request_sources(request) -> dict[str, list[str]]:
    sources: dict[str, list[str]] = {"connect-src": [], "media-src": []}
    try:
        host = request.get_host()
    except DisallowedHost:
        host = None
    if host:
        sources["connect-src"] += [f"ws://{host}", f"wss://{host}"]

    stripe_js = origin_of(settings.STRIPE_JS_URL)
    if stripe_js and urlsplit(stripe_js).hostname == STRIPE_HOST:
        for directive, origins in STRIPE_SOURCES.items():
            sources.setdefault(directive, []).extend(origins)
    elif stripe_js:  # localstripe: script, API and 3-D Secure page on one origin
        for directive in ("script-src", "connect-src", "frame-src"):
            sources.setdefault(directive, []).append(stripe_js)

    hls = origin_of(settings.LIVE_HLS_URL)
    if hls:
        sources["connect-src"].append(hls)
        sources["media-src"].append(hls)
    return sources


class CSPMiddleware(BaseCSPMiddleware):
    def get_policy_parts(self, request, response, report_only=False):
        parts = super().get_policy_parts(request, response, report_only)
        update = {name: list(values) for name, values in (parts.update or {}).items()}
        for name, values in request_sources(request).items():
            update[name] = [*update.get(name, []), *values]
        parts.update = update
        return parts
