from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "shopfeed.accounts"
    label = "accounts"

    def ready(self):
        # Every process that changes users, logs them out or deletes tokens must void the
        # WebSocket identity summaries kept in Redis (the socket server only reads them).
        from shopfeed import ws_identity

        ws_identity.connect_token_signals()
