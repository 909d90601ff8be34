from django.apps import AppConfig


class OrdersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "orders"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from . import privacy, video_sales
        from .cart.receivers import merge_on_login
        from .flash import services as flash_services

        # An anonymous shopper's cart follows them into their account.
        user_logged_in.connect(merge_on_login, dispatch_uid="orders.cart.merge_on_login")
        # Sales credited to a feed video, and "bought from" for the feed's ranker.
        video_sales.connect()
        # "Download my data" and "delete my account" (shopfeed.accounts.privacy).
        privacy.connect()
        # A creator's flash-sale switch and stock edits reach the Redis counts.
        flash_services.connect()
