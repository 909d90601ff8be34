from django.apps import AppConfig


class GiftsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "gifts"

    def ready(self):
        # orders may not import gifts (DESIGN.md 1): coin purchases join its Stripe webhook
        # handling and its reconciliation through the hooks orders offers.
        from .coins import admin as coins_admin  # noqa: F401 - registers the coin admin
        from .coins import hooks

        hooks.register()

        # "Download my data" (shopfeed.accounts.privacy).
        from . import privacy

        privacy.connect()
