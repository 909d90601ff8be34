from importlib import import_module

from django.apps import AppConfig

# Modules that register room actions with live.actions.action.
ACTION_MODULES = ("live.chat.services", "live.selling.actions")


class LiveConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "live"

    def ready(self):
        for module in ACTION_MODULES:
            try:
                import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name != module:  # a real import error inside the module
                    raise
