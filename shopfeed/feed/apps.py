from django.apps import AppConfig


class FeedConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "shopfeed.feed"
    label = "feed"
    verbose_name = "Short videos"

    def ready(self):
        # Celery finds `shopfeed.feed.tasks`; the ranker's tasks live with the ranker.
        from .engagement import privacy
        from .ranking import tasks  # noqa: F401

        # "Download my data" and "delete my account" (shopfeed.accounts.privacy).
        privacy.connect()
