"""The feed page in a real browser (Debian's chromium) at phone and desktop widths: slides
fill the screen, "Why am I seeing this?" shows the ranker's reasons, the product sheet opens,
nothing breaks the Content-Security-Policy, and axe-core finds no WCAG 2.1 A/AA violation."""

from pathlib import Path

import pytest

from shopfeed.accounts.tests.factories import CreatorFactory, UserFactory
from shopfeed.feed.ranking import store
from shopfeed.feed.tests.factories import VideoFactory, VideoProductFactory
from shops.tests.factories import VariantFactory

pytestmark = [
    pytest.mark.services,
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

# The axe-core copy the accessibility tests vendor (read as a file: feed may not import live).
AXE = Path(__file__).resolve().parents[3] / "live" / "tests" / "vendor" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_violations(page) -> list[str]:
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']})",
        WCAG_TAGS,
    )
    return [
        f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
    ]


@pytest.mark.parametrize("viewport", [(390, 844), (1280, 900)])
def test_the_feed_page_plays_by_the_rules_at_phone_and_desktop_width(
    browser, live_server, viewport, monkeypatch
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    store.flush_all()
    width, height = viewport
    mia = CreatorFactory(handle="mia", username="mia")
    tag = VideoProductFactory(video__creator=mia, video__caption="Linen for summer #fashion")
    VariantFactory(product=tag.product, price_amount=3900)
    for _ in range(3):
        VideoFactory()
    UserFactory(username="sam", handle="sam")

    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on(
        "console",
        lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
    )
    base = live_server.url
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "sam")
    page.fill("#id_password", "pw-Secret-123")
    page.click("button[type=submit]")
    page.wait_for_load_state()

    page.goto(f"{base}/")
    page.locator(".slide").nth(3).wait_for(state="attached")
    box = page.locator(".slide.active").bounding_box()
    assert box["height"] > height * 0.8  # one video fills the screen under the top bar
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    report = [f"feed: {v}" for v in axe_violations(page)]

    slide = page.locator(f".slide[data-video-id='{tag.video_id}']")
    slide.scroll_into_view_if_needed()
    slide.locator(".why-btn").click()
    reasons = page.locator("#sheet .why li")
    reasons.first.wait_for()
    codes = set(reasons.evaluate_all("els => els.map(e => e.dataset.code)"))
    assert codes & {"new_creator", "popular", "popular_region", "fresh"}, codes
    report += [f"why sheet: {v}" for v in axe_violations(page)]
    page.keyboard.press("Escape")

    slide.locator(".product-card").click()
    page.locator("#sheet .buy-now").wait_for()
    report += [f"product sheet: {v}" for v in axe_violations(page)]
    ctx.close()
    assert not report, "\n".join(report)
    assert problems == []
