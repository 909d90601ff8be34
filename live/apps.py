from django.apps import AppConfig


class LiveConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "live"

    def ready(self):
        # Importing these registers them: room actions with live.room.actions, receivers with
        # the signals orders sends upward.
        from orders.cart.validation import register_source_validator
        from orders.models import SaleSource

        from .chat import actions as chat_actions  # noqa: F401
        from .gifting import actions as gift_actions  # noqa: F401
        from .selling import actions as host_actions  # noqa: F401
        from .selling import receivers  # noqa: F401
        from .selling.selectors import sold_in_live_session

        # orders sits below live: it asks through this hook whether a sale was made in a room.
        register_source_validator(SaleSource.LIVE, sold_in_live_session)

        # shops.moderation (the blocked-words rule every app applies) reads shops' words here.
        from shops.moderation import register_shop_blocked_words

        from .models import BlockedWord

        register_shop_blocked_words(
            lambda shop_id: BlockedWord.objects.filter(shop_id=shop_id).values_list(
                "word", flat=True
            )
        )
        # ... and through this one, how a flash-sale reservation counts against a deal.
        from orders.flash.hooks import register_deal_hook

        from .selling.flash import LiveDealHook

        register_deal_hook(LiveDealHook())
        # So does gifts, for a send that names a session from outside the room (the API).
        from gifts.sending.hooks import register_session_resolver

        from .gifting.services import session_host_for_gifts

        register_session_resolver(session_host_for_gifts)
        # A creator's profile lists their live and upcoming sessions from a cache: a session
        # saved or deleted shows there on the next request.
        from django.db.models.signals import post_delete, post_save

        from shops import tab_cache

        from .models import LiveSession

        def session_changed(sender, instance, **kwargs):
            tab_cache.profile_changed(instance.shop_id)

        for signal in (post_save, post_delete):
            signal.connect(session_changed, sender=LiveSession, weak=False,
                           dispatch_uid=f"live.profile.{signal is post_save}")  # fmt: skip
