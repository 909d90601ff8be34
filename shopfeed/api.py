"""Project-wide API plumbing: one place where domain errors become HTTP responses, and the
WebSocket ticket endpoint (the socket door itself is shopfeed/ws_auth.py)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse
from django.views import defaults
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from shopfeed import ws_tickets
from shopfeed.errors import ShopFeedError


def exception_handler(exc, context):
    if isinstance(exc, ShopFeedError):
        body = {"detail": exc.message, "code": exc.code}
        if exc.field:
            body = {exc.field: [exc.message], "detail": exc.message, "code": exc.code}
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            body = {field: [str(m) for m in msgs] for field, msgs in exc.message_dict.items()}
        else:
            body = {"detail": " ".join(exc.messages), "code": "invalid"}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    data = response.data if response is not None else None
    if isinstance(data, dict) and set(data) == {"detail"}:
        # Every API error reads {"detail", "code"} (DESIGN.md section 8), DRF's own included.
        codes = exc.get_codes() if hasattr(exc, "get_codes") else None
        response.data["code"] = codes if isinstance(codes, str) else "error"
    return response


# Django's own error pages, for errors raised before or outside DRF (a malformed multipart
# body, an unknown path): JSON under /api/, the usual pages elsewhere.
def _api_error(request, status_code: int, detail: str, code: str):
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": detail, "code": code}, status=status_code)
    return None


def bad_request(request, exception):
    return _api_error(request, 400, "Malformed request.", "bad_request") or defaults.bad_request(
        request, exception
    )


def permission_denied(request, exception):
    return _api_error(
        request, 403, "You are not allowed to do that.", "permission_denied"
    ) or defaults.permission_denied(request, exception)


def page_not_found(request, exception):
    return _api_error(request, 404, "Not found.", "not_found") or defaults.page_not_found(
        request, exception
    )


def server_error(request):
    return _api_error(
        request, 500, "Something went wrong on our side.", "server_error"
    ) or defaults.server_error(request)


class WebSocketTicketView(APIView):
    """A single-use ticket to open the live room's WebSocket as the caller."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="live_ws_ticket_create",
        summary="Get a single-use WebSocket ticket",
        description=(
            "Returns a ticket valid for `expires_in` seconds and one connection: open "
            "`/ws/live/<session_id>/?ticket=<ticket>`. API tokens are not accepted in a "
            "WebSocket URL (URLs end up in logs); clients that can send headers may use "
            "`Authorization: Token <key>` instead. Authenticated by session (with CSRF) or token."
        ),
        request=None,
        responses=inline_serializer(
            "WebSocketTicket",
            {"ticket": serializers.CharField(), "expires_in": serializers.IntegerField()},
        ),
        tags=["live"],
    )
    def post(self, request):
        ticket = ws_tickets.issue_ticket(user=request.user)
        return Response({"ticket": ticket, "expires_in": ws_tickets.ticket_lifetime()})
