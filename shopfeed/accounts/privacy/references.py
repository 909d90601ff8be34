"""Every foreign key to a model across the installed apps (Django's app registry: no import
of the apps above accounts)."""

from collections.abc import Iterator

from django.apps import apps


def references_to(target) -> Iterator[tuple]:
    """(model, field) for each many-to-one or one-to-one field pointing at `target`."""
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if (
                field.is_relation
                and field.related_model is target
                and (field.many_to_one or field.one_to_one)
            ):
                yield model, field
