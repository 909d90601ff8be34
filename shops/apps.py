from django.apps import AppConfig


class ShopsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "shops"

    def ready(self):
        from django.conf import settings
        from PIL import Image

        # Pillow warns above this many pixels and refuses above twice as many.
        Image.MAX_IMAGE_PIXELS = settings.IMAGE_MAX_PIXELS

        from . import tab_cache

        tab_cache.connect()
        # A seller who deletes their account: the shop closes, its orders stay.
        from shopfeed.accounts.privacy.registry import register_eraser

        from .privacy import close_shop_of

        register_eraser("shops", close_shop_of)
