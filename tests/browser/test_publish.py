"""Publishing a plan to the crew and comparing versions (issue 21, items 4 and 5), and the
routes' workload balance (issue 18, item 4), in Chromium."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import httpx
import pytest
from browser.harness import DESKTOP, PHONE, Watch, open_page, run_async, screenshot, signed_in_context

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
    # The changed plan is on the phone's first screen, with its reason, and its section is open.
    glance = crew.locator("#glance-plan")
    assert (
        "new since you last drove" in glance.inner_text()
        and "the school street goes to your route" in glance.inner_text()
    )
    box = glance.bounding_box()
    assert box["y"] + box["height"] <= PHONE["height"], "the changed plan is below the fold"
    assert crew.evaluate("() => document.getElementById('plan').open") and "new" in crew.inner_text("#plan-count")
    # The long street list is folded away on the phone; the change summary above it is not.
    streets = crew.locator("#plan-streets-box")
    assert not streets.evaluate("(d) => d.open") and not crew.locator("#plan-streets").is_visible()
    assert "Streets in driving order (" in crew.inner_text("#plan-streets-h")
    crew.get_by_text("Streets in driving order").click()
    assert crew.locator("#plan-streets").is_visible()
    added = crew.locator(f'#plan-streets li[data-segment="{segment}"]')
    assert added.get_attribute("data-change") == "added" and "new" in added.inner_text()
    assert "the school street goes to your route" in crew.inner_text("#plan-reason")
    assert "new street" in crew.inner_text("#plan-changes")
    assert crew.watch.problems() == []
    screenshot(crew, "publish-crew-plan-phone")
    context.close()


def _supervisor_api(pilot, method: str, path: str, **kwargs):
    answer = httpx.request(
        method,
        f"{pilot.base}/api/v1/{path}",
        headers={"Authorization": f"Bearer {pilot.tokens['supervisor']}"},
        timeout=120,
        **kwargs,
    )
    answer.raise_for_status()
    return answer.json()


def test_two_versions_compared_on_the_map_and_in_figures(browser, pilot):
    """A version with two streets swapped, compared with the version the shifts drove."""
    live = pilot.sql("SELECT route_id FROM shifts WHERE ends_at > now() AND vehicle_id = $1", pilot.live_vehicle)[0][0]
    route = pilot.sql("SELECT max(route_id) FROM routes WHERE route_id <> $1 AND active", live)[0][0]
    plan = _supervisor_api(pilot, "GET", f"routes/{route}/plan.geojson")
    service = [
        f for f in plan["features"] if f["properties"]["feature_type"] == "segment" and f["properties"]["service"]
    ]
    first, second = service[0]["properties"], service[1]["properties"]
    first["seq"], second["seq"] = second["seq"], first["seq"]
    saved = _supervisor_api(pilot, "POST", "routes/plans", json={**plan, "note": "browser test: two streets swapped"})
    newest = saved["versions"][route]
    days = {"from": pilot.start.isoformat(), "to": (pilot.start + timedelta(days=pilot.days)).isoformat()}
    expected = _supervisor_api(pilot, "GET", f"routes/{route}/compare", params={"a": 1, "b": newest, **days})

    context, page = _page(browser, pilot, "supervisor", DESKTOP)
    open_page(page, f"plans.html?route={route}")
    page.wait_for_selector(f"#compare-b option[value='{newest}']", state="attached")
    page.select_option("#compare-a", "1")
    page.select_option("#compare-b", str(newest))
    page.fill("#compare-from", days["from"])
    page.fill("#compare-to", (pilot.start + timedelta(days=pilot.days - 1)).isoformat())
    page.get_by_role("button", name="Compare").click()
    page.wait_for_selector(f"#compare-result[data-compared='1-{newest}']", timeout=60_000)
    shifts = page.locator("#compare-figures tr", has_text="Shifts driven").locator("td")
    assert shifts.nth(1).inner_text() == str(expected["a"]["performance"]["shifts"])
    assert shifts.nth(2).inner_text() == "withheld (k)"  # nobody has driven the new version yet
    assert {m["segment_id"] for m in expected["moved"]} & {first["segment_id"], second["segment_id"]}
    assert "Moved in the driving order" in page.inner_text("#compare-change-list")
    assert page.watch.problems() == []
    page.locator("#compare-h").scroll_into_view_if_needed()
    screenshot(page, "publish-compare-desktop")
    context.close()


async def _prepare_legs(url: str, start, end, tz: str) -> None:
    """What-if legs of the pilot's shifts in [start, end) (the session's rollup computes none)."""
    from fleetpilot.rollup.whatif.prepare import prepare

    conn = await asyncpg.connect(url)
    try:
        await prepare(conn, start, end, tz=tz)
    finally:
        await conn.close()


def test_the_workload_table_and_the_rebalance_scenario_one_click_away(browser, pilot):
    tz = Settings(_env_file=None).timezone
    today = localtime.today(tz)
    last_week = pilot.start + timedelta(days=pilot.days - 7)
    run_async(_prepare_legs(pilot.url, last_week, last_week + timedelta(days=7), tz))
    period = {"from": (today - timedelta(weeks=8)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}
    expected = _supervisor_api(pilot, "GET", "routes/workload", params=period)
    context, page = _page(browser, pilot, "supervisor", PHONE)
    # On a phone the workload is a folded section (decision 0035): opened as a link to it would.
    open_page(page, "plans.html#workload-section")
    page.wait_for_selector("#workload tbody tr")
    rows = page.locator("#workload tbody tr")
    assert rows.count() == len(expected["routes"])
    first = expected["routes"][0]
    assert f"{first['performance']['hours_per_shift']:.2f} h" in rows.first.inner_text()
    page.get_by_role("button", name="What if streets were rebalanced between routes?").click()
    page.wait_for_selector("#rebalance-result[data-answered], #main .alert.error", timeout=120_000)
    assert page.locator("#main .alert.error").count() == 0, page.inner_text("#main .alert.error")
    assert page.locator("#rebalance-kpis li").count() == 2
    assert page.locator("#rebalance-routes tbody tr").count() >= 2
    assert page.watch.problems() == []
    screenshot(page, "publish-workload-phone")
    context.close()
