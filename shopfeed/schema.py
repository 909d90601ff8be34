"""OpenAPI generation (drf-spectacular) that documents what the API really answers: every
operation lists the errors the project's plumbing can give it (bad input, credentials,
permissions, missing objects, conflicts, oversized or unsupported bodies, throttling), in
the one error shape of shopfeed.api.exception_handler. Request bodies are documented in the
one media type clients should use: JSON, or multipart when a file is sent (the form parsers
stay on for browsers, but a form cannot say whether "1" is a number or a string)."""

from drf_spectacular import openapi
from drf_spectacular.plumbing import force_instance, is_serializer
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, for a person to read.")
    code = serializers.CharField(help_text="A stable, machine-readable reason.")


class ValidationErrorSerializer(serializers.Serializer):
    """Either one error for the whole request (`detail`, `code`) or, per invalid field, the
    field's name with its messages."""

    detail = serializers.CharField(required=False)
    code = serializers.CharField(required=False)
    non_field_errors = serializers.ListField(child=serializers.CharField(), required=False)


class AutoSchema(openapi.AutoSchema):
    def _error_responses(self) -> dict[str, type[serializers.Serializer]]:
        # Any request may carry bad input (a NUL, a bad filter), bad credentials or too many
        # requests; a path with an id or a page past the end finds nothing.
        errors = {"400": ValidationErrorSerializer, "401": ErrorSerializer, "429": ErrorSerializer}
        if "{" in self.path or self._is_list_view():
            errors["404"] = ErrorSerializer
        if self.method not in SAFE_METHODS:
            errors.update({code: ErrorSerializer for code in ("403", "404", "409", "413", "415")})
        elif any(issubclass(p, IsAuthenticated) for p in self.view.permission_classes):
            # A read for signed-in users only: without credentials DRF answers 403 (session
            # authentication, first in line, sends no WWW-Authenticate challenge).
            errors["403"] = ErrorSerializer
        return errors

    def map_parsers(self):
        media_types = super().map_parsers()
        serializer = force_instance(self.get_request_serializer())
        has_file = is_serializer(serializer) and any(
            isinstance(field, serializers.FileField) and not field.read_only
            for field in serializer.fields.values()
        )
        wanted = "multipart/form-data" if has_file else "application/json"
        return [wanted] if wanted in media_types else media_types

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, serializer in self._error_responses().items():
            if code not in responses:
                responses[code] = self._get_response_for_code(serializer, code, direction=direction)
        return responses

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        # Read-only fields count as always present; some are shown to some readers only.
        optional = set(getattr(serializer, "optional_in_response", ()))
        if optional and "required" in schema:
            schema["required"] = [name for name in schema["required"] if name not in optional]
            if not schema["required"]:
                del schema["required"]
        return schema
