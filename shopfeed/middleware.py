"""Request guards that hold for every page and API endpoint."""

from collections.abc import Iterable

from django.http import HttpResponseBadRequest, JsonResponse

NUL = "\x00"
NUL_MESSAGE = "Requests may not contain NUL (0x00) characters."


def has_nul(values: Iterable[str]) -> bool:
    return any(NUL in value for value in values)


def _multi_items(data) -> Iterable[str]:
    for key, values in data.lists():
        yield key
        yield from values


def request_has_nul(request) -> bool:
    """NUL anywhere that reaches the database as text: path, query, cookies, the token header
    and form fields (values arrive here percent-decoded)."""
    if NUL in request.path_info or has_nul(_multi_items(request.GET)):
        return True
    if has_nul(request.COOKIES) or has_nul(request.COOKIES.values()):
        return True
    if NUL in request.META.get("HTTP_AUTHORIZATION", ""):
        return True
    if request.method == "POST" and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        # The same parse the view would do; Django keeps the result for it (DRF reuses it).
        # Upload names need no check: Django drops unprintable characters from them.
        return has_nul(_multi_items(request.POST)) or has_nul(request.FILES)
    return False


class RejectNulMiddleware:
    """Answer 400 for a NUL character instead of letting it reach PostgreSQL, which cannot
    store one in text and raises (a 500) on any query that carries it. JSON bodies are
    checked by the API's parsers (shopfeed.parsers)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request_has_nul(request):
            if request.path_info.startswith("/api/"):
                return JsonResponse({"detail": NUL_MESSAGE, "code": "nul_character"}, status=400)
            return HttpResponseBadRequest(NUL_MESSAGE, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
