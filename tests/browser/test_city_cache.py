"""The city layer comes from the browser's cache across tabs: a second tab's map page asks
again with If-None-Match and gets a 304 (headers only), the page still drawn with streets."""

from __future__ import annotations

import pytest
from browser.harness import DESKTOP, Watch, open_page, signed_in_context

pytestmark = pytest.mark.browser

CITY_ENTRY = """() => performance.getEntriesByType("resource").filter((e) => e.name.endsWith("/api/v1/city"))
  .map((e) => ({transfer: e.transferSize, body: e.encodedBodySize}))"""


def test_a_second_tab_revalidates_the_city_instead_of_downloading_it(browser, pilot):
    context = signed_in_context(browser, pilot.base, pilot.tokens["supervisor"], DESKTOP)
    try:
        statuses = []
        context.on("response", lambda r: statuses.append(r.status) if r.url.endswith("/api/v1/city") else None)
        first = context.new_page()
        watch = Watch().attach(first)
        open_page(first, "live.html")
        [downloaded] = first.evaluate(CITY_ENTRY)
        assert downloaded["body"] > 10_000 and downloaded["transfer"] > downloaded["body"] / 20

        second = context.new_page()  # another tab of the same browser
        Watch.attach(watch, second)
        open_page(second, "coverage.html")
        [reused] = second.evaluate(CITY_ENTRY)
        # Revalidated: the body came from the cache, only headers crossed the network.
        assert reused["body"] == downloaded["body"] and 0 < reused["transfer"] < 2_000, reused
        assert statuses[0] == 200 and statuses[-1] in (200, 304) and len(statuses) == 2
        assert watch.problems() == []
    finally:
        context.close()
