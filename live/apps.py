from django.apps import AppConfig


class LiveConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "live"

    def ready(self):
        # Importing these registers them: room actions with live.room.actions, receivers with
        # the signals orders sends upward.
        from .chat import actions as chat_actions  # noqa: F401
        from .selling import actions as host_actions  # noqa: F401
        from .selling import receivers  # noqa: F401
