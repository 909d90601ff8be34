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
