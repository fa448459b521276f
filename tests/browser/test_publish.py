"""Publishing a plan to the crew and comparing versions (issue 21, items 4 and 5), and the
routes' workload balance (issue 18, item 4), in Chromium."""

from __future__ import annotations

import pytest
from browser.harness import DESKTOP, PHONE, Watch, open_page, screenshot, signed_in_context

from fleetpilot import localtime
from fleetpilot.settings import Settings

pytestmark = pytest.mark.browser


def _page(browser, pilot, role: str, viewport: dict):
    context = signed_in_context(browser, pilot.base, pilot.tokens[role], viewport)
    page = context.new_page()
    page.watch = Watch().attach(page)
    return context, page


def test_a_version_saved_for_today_reaches_the_crews_phone(browser, pilot):
    """The supervisor moves a street of another route onto the crew's route, applying today;
    the crew member's phone shows it in the driving order, marked new, with the reason."""
    route = pilot.sql("SELECT route_id FROM shifts WHERE ends_at > now() AND vehicle_id = $1", pilot.live_vehicle)[0][0]
    other = pilot.sql("SELECT min(route_id) FROM routes WHERE route_id <> $1 AND active", route)[0][0]
    segment = pilot.sql(
        "SELECT s.segment_id FROM route_segments s JOIN routes r ON r.route_id = s.route_id "
        "AND r.current_version = s.version WHERE s.route_id = $1 AND s.service ORDER BY s.seq LIMIT 1",
        other,
    )[0][0]
    context, supervisor = _page(browser, pilot, "supervisor", DESKTOP)
    open_page(supervisor, f"plans.html?route={other}")
    supervisor.locator(f'#segments input[data-pick="{segment}"]').check()
    supervisor.get_by_label("To route").select_option(route)
    supervisor.get_by_role("button", name="Move 1 selected segment(s)").click()
    supervisor.get_by_label("What changed and why").fill("browser test: the school street goes to your route")
    assert (
        supervisor.get_by_label("Applies from").input_value()
        == localtime.today(Settings(_env_file=None).timezone).isoformat()
    )
    supervisor.get_by_role("button", name="Save 2 changed route(s) as new versions").click()
    supervisor.wait_for_selector("#plan-message .alert.ok")
    assert "applying from" in supervisor.inner_text("#plan-message")
    assert supervisor.watch.problems() == []
    context.close()

    context, crew = _page(browser, pilot, "driver", PHONE)
    open_page(crew, "driver.html")
    added = crew.locator(f'#plan-streets li[data-segment="{segment}"]')
    assert added.get_attribute("data-change") == "added" and "new" in added.inner_text()
    assert "the school street goes to your route" in crew.inner_text("#plan-reason")
    assert "new street" in crew.inner_text("#plan-changes")
    assert crew.watch.problems() == []
    screenshot(crew, "publish-crew-plan-phone")
    context.close()
