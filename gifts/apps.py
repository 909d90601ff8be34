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

        # The Redis mirror of senders' wallets (gifts.sending.store) hears of every change to
        # what decides a send: wallet postings (orders' hook) and user rows (birth date, host).
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_save

        from orders.ledger import services as ledger

        from .sending import mirror

        ledger.register_wallet_hook(mirror.wallets_posted)
        post_save.connect(mirror.user_saved, sender=get_user_model(), dispatch_uid="gifts-mirror")
