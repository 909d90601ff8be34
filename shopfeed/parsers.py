"""DRF parsers that turn hostile bodies into 4xx: NUL characters (PostgreSQL text cannot hold
them), JSON nested deeper than any real payload (Python's parser raises RecursionError past
~1,000 levels, a 500) and JSON bodies larger than the API ever needs.

They are the defaults (REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]); a view that names its own
parsers picks them from here (shopfeed/tests/test_bad_input.py checks every API view).
`loads` is the same guard for JSON read outside DRF (the live room's frames)."""

from django.conf import settings
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.utils import json

from shopfeed.middleware import NUL, NUL_MESSAGE, has_nul

# A product with its variants nests 3 deep; 32 leaves room without inviting abuse.
MAX_JSON_DEPTH = 32
TOO_DEEP = f"JSON nested too deep (more than {MAX_JSON_DEPTH} levels)."


class UnsafeJSON(ValueError):
    """Valid JSON we still refuse: nested too deep, or carrying a NUL character."""


def _check_tree(data) -> None:
    """Walk parsed JSON without recursion: depth bound and no NUL in keys or strings."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if NUL in value:
                raise UnsafeJSON(NUL_MESSAGE)
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise UnsafeJSON(TOO_DEEP)
            if isinstance(value, dict):
                if has_nul(value):
                    raise UnsafeJSON(NUL_MESSAGE)
                value = value.values()
            stack.extend((item, depth + 1) for item in value)


def loads(text: str | bytes, *, strict: bool = True):
    """json.loads that raises ValueError (UnsafeJSON for what we refuse), never RecursionError."""
    try:
        data = json.loads(text, parse_constant=json.strict_constant if strict else None)
    except RecursionError:
        raise UnsafeJSON(TOO_DEEP) from None
    _check_tree(data)
    return data


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


class SafeParser:
    """Marker: a parser whose output is free of NUL characters and bounded in depth."""


class JSONParser(SafeParser, parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_JSON_MAX_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestTooLarge(f"JSON bodies are at most {limit} bytes.")
        try:
            return loads(raw.decode(parsers.get_encoding(parser_context or {})), strict=self.strict)
        except UnsafeJSON as exc:
            raise ParseError(str(exc)) from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


def _check_form(data) -> None:
    for key, values in data.lists():
        if NUL in key or has_nul(v for v in values if isinstance(v, str)):
            raise ParseError(NUL_MESSAGE)


class FormParser(SafeParser, parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _check_form(data)
        return data


class MultiPartParser(SafeParser, parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        _check_form(result.data)
        if has_nul(result.files):
            raise ParseError(NUL_MESSAGE)
        return result
