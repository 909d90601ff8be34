"""Serializer plumbing shared by the API's input serializers."""

from collections.abc import Mapping

from django.http import QueryDict
from rest_framework import serializers
from rest_framework.fields import empty

# The JSON types each kind of field takes, most specific first. A form body is all text,
# so only JSON bodies are held to them.
_JSON_TYPES = (
    (serializers.BooleanField, (bool,), "true or false"),
    (serializers.IntegerField, (int,), "a whole number"),
    (serializers.FloatField, (int, float), "a number"),
    (serializers.DecimalField, (int, float, str), "a number"),
    (serializers.FileField, None, ""),
    (serializers.ListField, (list,), "a list"),
    (serializers.ListSerializer, (list,), "a list"),
    (serializers.BaseSerializer, (dict,), "an object"),
    (serializers.CharField, (str,), "text"),
    (serializers.ChoiceField, (str,), "text"),
    (serializers.RelatedField, (str, int), "a name or an id"),
)


def _expected(field) -> tuple[tuple[type, ...], str] | None:
    for kind, types, label in _JSON_TYPES:
        if isinstance(field, kind):
            return (types, label) if types else None
    return None


def _type_error(field, value) -> str | None:
    expected = _expected(field)
    if expected is None or value is None:
        return None
    types, label = expected
    if isinstance(value, bool) and bool not in types:
        return f"Must be {label}."
    if not isinstance(value, types):
        return f"Must be {label}."
    if isinstance(field, serializers.ListField) and isinstance(value, list):
        for item in value:
            message = _type_error(field.child, item)
            if message:
                return message
    return None


class StrictJSONTypes:
    """Refuse JSON values of the wrong type instead of converting them: DRF reads 12 as "12"
    for a text field and "12" as 12 for a number, so a client's mistake (or a fuzzer's) would
    pass unnoticed and the schema would not describe what the API accepts."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping) and not isinstance(data, QueryDict):
            errors = {}
            for name, field in self.fields.items():
                if field.read_only:
                    continue
                value = data.get(name, empty)
                if value is empty:
                    continue
                message = _type_error(field, value)
                if message:
                    errors[name] = [message]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
