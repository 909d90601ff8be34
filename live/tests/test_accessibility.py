"""Every main page passes an axe-core scan (WCAG 2.1 A and AA) at phone and desktop widths.

axe-core is vendored in tests/vendor (see VENDOR.txt there) and evaluated in the page rather
than added as a <script> tag, so a Content-Security-Policy on the page cannot block it. Pages
are seeded the way a shopper and a creator meet them: a shop with photographed products, a
session on air with a pinned product and chat, the creator signed in for the dashboard.

The live page needs the real ASGI server (its socket fills the page); the others use Django's
live server, which serves the test's own MEDIA_ROOT so product photos load.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.utils import timezone

from live.chat import services as chat
from live.selling import services as selling
from live.stream import services as sessions
from live.tests.conftest import reset_room, session_cookie
from shopfeed.accounts import services as account_services
from shopfeed.accounts.tests.factories import CreatorFactory, UserFactory
from shopfeed.testing import close_context_local_connections
from shops.tests.factories import (
    ProductFactory,
    ProductImageFactory,
    ShopFactory,
    VariantFactory,
    make_image_file,
)

pytestmark = [
    pytest.mark.services,
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

AXE_SOURCE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
VIEWPORTS = [{"width": 390, "height": 844}, {"width": 1280, "height": 900}]  # phone, desktop

# page id -> (server, who is signed in, path with {placeholders} filled from the seed)
PAGES = {
    "home": ("django", "shopper", "/"),
    "profile": ("django", "shopper", "/@mia/"),
    "product": ("django", "shopper", "/@mia/products/{product}/"),
    "search": ("django", "shopper", "/search/?q=linen"),
    "live-now": ("django", "shopper", "/live/"),
    "live-page": ("asgi", "shopper", "/live/{session}/"),
    "live-page-host": ("asgi", "mia", "/live/{session}/"),
    "login": ("django", None, "/accounts/login/"),
    "signup": ("django", None, "/accounts/signup/"),
    "dashboard": ("django", "mia", "/dashboard/"),
    "product-form": ("django", "mia", "/dashboard/products/{product_pk}/"),
    "new-product-form": ("django", "mia", "/dashboard/products/new/"),
    "studio": ("django", "mia", "/live/studio/"),
}


def _chat(session, user, text: str) -> None:
    """Post through the room's real path (Redis script), then store the log as the room does."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    import redis.asyncio as aioredis

    from live.chat import log as chat_log
    from live.room.bus import get_bus
    from live.room.state import load_room_state

    state = load_room_state(session.pk)

    async def post():
        client = aioredis.Redis.from_url(get_bus().url)
        try:
            log = chat_log.RedisChatLog(client)
            await chat.send_message(log=log, state=state, user=user, text=text)
        finally:
            await client.aclose()

    # Playwright's loop runs in this thread: the post gets a thread and a loop of its own.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, post()).result()
    chat_log.flush_chat_log(session.pk)


def seed() -> dict:
    """A creator's shop with photographed products, a live with a pinned product, a flash deal
    and chat, a follower, and an upcoming live."""
    mia = CreatorFactory(username="mia", handle="mia", display_name="Mia Chen")
    shop = ShopFactory(owner=mia, name="Mia's Closet", description="Linen, cotton and canvas.")
    shirt = ProductFactory(
        shop=shop, title="Linen Shirt", handle="linen-shirt", option1_name="Size", is_featured=True
    )
    VariantFactory(product=shirt, sku="LS-S", option1="S", price_amount=3900, quantity=0)
    VariantFactory(product=shirt, sku="LS-M", option1="M", price_amount=4200, quantity=5)
    ProductImageFactory(
        product=shirt, image=make_image_file(size=(600, 600)), alt_text="Linen shirt, front"
    )
    ProductImageFactory(product=shirt, image=make_image_file(color=(20, 120, 200)))
    tote = ProductFactory(shop=shop, title="Canvas Tote", handle="canvas-tote")
    VariantFactory(product=tote, option1="", price_amount=1800, compare_at_amount=2400, quantity=9)
    ProductImageFactory(product=tote, image=make_image_file(color=(230, 200, 120)))
    ProductFactory(shop=shop, title="Linen Trousers", handle="linen-trousers", status="draft")

    sam = UserFactory(username="sam", handle="sam", display_name="Sam Shopper")
    session = sessions.schedule_session(
        host=mia,
        title="Friday linen drop",
        scheduled_at=timezone.now(),
        product_ids=[shirt.pk, tote.pk],
    )
    session = sessions.go_live(session=session, by=mia)
    reset_room(session.pk)  # session ids restart with each test database; Redis remembers
    session = selling.pin_product(session=session, product=shirt, by=mia)
    _chat(session, sam, "Does the shirt run large?")
    selling.start_deal(
        session=session, product=tote, price_amount=1200, quantity=5, duration_seconds=300, by=mia
    )
    account_services.follow(follower=sam, creator=mia)
    sessions.schedule_session(
        host=mia,
        title="Sunday canvas special",
        scheduled_at=timezone.now() + timezone.timedelta(days=2),
        product_ids=[tote.pk],
    )
    return {
        "users": {"mia": mia, "shopper": sam},
        "path": {"product": shirt.handle, "product_pk": shirt.pk, "session": session.pk},
    }


def scan(page) -> list[dict]:
    page.evaluate(AXE_SOURCE)
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']})",
        WCAG_TAGS,
    )
    return result["violations"]


def describe(where: str, violations: list[dict]) -> list[str]:
    lines = []
    for v in violations:
        lines.append(f"{where}: {v['id']} ({v['impact']}) {v['help']} [{len(v['nodes'])}]")
        for node in v["nodes"]:
            summary = " ".join((node.get("failureSummary") or "").split())
            lines.append(f"    {' > '.join(map(str, node['target']))}: {summary[:300]}")
    return lines


@pytest.fixture
def browser(module_browser):
    """One chromium for every page here (each check takes contexts of its own)."""
    yield module_browser
    close_context_local_connections()


@pytest.mark.parametrize("page_id", list(PAGES))
def test_page_has_no_wcag_21_aa_violations(page_id, request, browser):
    server_kind, who, path = PAGES[page_id]
    data = seed()
    if server_kind == "asgi":
        origin = request.getfixturevalue("asgi_server").origin
    else:
        origin = request.getfixturevalue("live_server").url
    url = origin + path.format(**data["path"])

    report = []
    for viewport in VIEWPORTS:
        context = browser.new_context(viewport=viewport)
        if who:
            cookie = session_cookie(data["users"][who])
            context.add_cookies([{"name": "sessionid", "value": cookie, "url": origin}])
        page = context.new_page()
        try:
            response = page.goto(url)
            assert response.ok, f"{url} answered {response.status}"
            if page_id.startswith("live-page"):
                page.wait_for_selector("#live-root[data-connected]", timeout=15000)
                page.locator("#pinned-body", has_text="Linen Shirt").wait_for()
            report += describe(f"{page_id} @ {viewport['width']}px", scan(page))
        finally:
            context.close()

    assert not report, "axe-core found WCAG 2.1 A/AA violations:\n" + "\n".join(report)
