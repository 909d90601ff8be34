"""Live blocks other apps' templates can show without importing live (apps import downward)."""

from django import template

from live import selectors

register = template.Library()


@register.inclusion_tag("live/_profile_sessions.html")
def live_sessions_for(user):
    """A creator's live and upcoming sessions, for their profile page (one query)."""
    if user is None or not getattr(user, "is_creator", False):
        return {"live_sessions": []}
    return {"live_sessions": selectors.sessions_on_profile(host=user)}
