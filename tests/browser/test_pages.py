"""Every page each role is offered loads in Chromium with no console error and no failed or
refused request, fits a 375 px phone without sideways scrolling, and is saved as a screenshot.
Load figures go to test-artifacts/page-timings.json."""
from __future__ import annotations

import pytest
from browser.harness import DESKTOP, PHONE, Watch, horizontal_overflow, open_page, page_timing, screenshot, signed_in_context

pytestmark = pytest.mark.browser

ROLES = ["driver", "supervisor", "data_officer", "admin", None]


def nav_pages(page) -> list[str]:
    return page.eval_on_selector_all(".site-nav a", "links => links.map((a) => a.getAttribute('href'))")


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "anonymous")
def test_every_offered_page_loads_clean_on_desktop_and_phone(browser, pilot, timings, role):
    token = pilot.tokens.get(role) if role else None
    for size_name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context = signed_in_context(browser, pilot.base, token, viewport)
        page = context.new_page()
        watch = Watch().attach(page)
        start = "index.html" if role else "transparency.html"
        page.goto(f"/app/{start}")
        page.wait_for_selector("body[data-ready]", timeout=30_000)
        offered = nav_pages(page)
        assert offered, f"{role}: no navigation"
        for href in offered:
            watch.clear()
            ready = open_page(page, href)
            name = f"{role or 'anonymous'}-{href.removesuffix('.html')}-{size_name}"
            screenshot(page, name)
            assert ready == "true", f"{name}: page ended as {ready!r}: {watch.problems()}"
            assert watch.problems() == [], f"{name}: {watch.problems()}"
            if size_name == "phone":
                assert horizontal_overflow(page) <= 0, f"{name} scrolls sideways on a 375 px screen"
            else:
                timings.record(name, page_timing(page))
        context.close()
