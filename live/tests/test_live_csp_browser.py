"""The live page under the Content-Security-Policy, over the real ASGI server: the room's
socket (connect-src to the page's own ws: origin), the player (hls.js, media from our
origin) and the host's controls work, and the browser reports no violation."""

import pytest

from live.tests.conftest import reset_room, session_cookie
from live.tests.selling_support import live_session, product_with_variant
from shopfeed.accounts.tests.factories import UserFactory
from shopfeed.testing import csp_violations, watch_csp

pytestmark = [
    pytest.mark.services,
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


def test_the_live_page_connects_and_plays_without_policy_violations(asgi_server, browser, shop):
    product = product_with_variant(shop, title="Glow serum")[0]
    session = live_session(shop, product)
    reset_room(session.pk)
    viewer = UserFactory(handle="sam")
    found = {}
    for who in (viewer, shop.owner):
        context = browser.new_context(viewport={"width": 390, "height": 844})
        context.add_cookies(
            [{"name": "sessionid", "value": session_cookie(who), "url": asgi_server.origin}]
        )
        page = context.new_page()
        seen = watch_csp(page)
        errors = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        page.goto(f"{asgi_server.origin}/live/{session.pk}/")
        page.wait_for_selector("#live-root[data-connected]", timeout=15000)
        page.wait_for_function("document.querySelector('video') !== null")
        page.wait_for_timeout(1500)  # let the player and the socket's first events settle
        found[who.handle] = (csp_violations(page, seen), errors)
        context.close()

    assert found == {"sam": ([], []), shop.owner.handle: ([], [])}
