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


HOME_STRIP_SIZE = 12


@register.inclusion_tag("live/_live_now_strip.html", takes_context=True)
def live_now_strip(context):
    """Who is on air, for the home page; followed creators first for a signed-in viewer."""
    user = getattr(context.get("request"), "user", None)
    viewer = user if user is not None and user.is_authenticated else None
    return {"live_sessions": list(selectors.list_live_now(viewer=viewer)[:HOME_STRIP_SIZE])}
