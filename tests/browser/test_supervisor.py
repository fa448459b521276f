"""The supervisor's pages show the route aggregates the API computes, the live map shows
on-duty trucks only, and route plans can be edited (reorder, move) into new versions."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from browser.harness import open_page, screenshot

pytestmark = pytest.mark.browser


def api(pilot, path: str, **params):
    answer = httpx.get(
        f"{pilot.base}/api/v1/{path}",
        params=params,
        headers={"Authorization": f"Bearer {pilot.tokens['supervisor']}"},
        timeout=30,
    )
    answer.raise_for_status()
    return answer.json()


def period(pilot) -> dict[str, str]:
    last = pilot.start + timedelta(days=pilot.days - 1)
    return {"from": pilot.start.isoformat(), "to": last.isoformat()}


def test_coverage_page_shows_the_routes_figures_and_missed_segments(supervisor, pilot):
    days = period(pilot)
    api_range = {"from": days["from"], "to": (pilot.start + timedelta(days=pilot.days)).isoformat()}
    whole = api(pilot, "routes/route-001/efficiency", **api_range)["whole_range"]
    coverage = api(pilot, "routes/route-001/coverage", **api_range)
    assert not whole["suppressed"]
    open_page(supervisor, f"coverage.html?route=route-001&from={days['from']}&to={days['to']}")
    assert supervisor.inner_text("#fig-shifts") == str(whole["shifts"])
    assert supervisor.inner_text("#fig-coverage") == f"{whole['coverage_mean'] * 100:.1f} %"
    missed = [s for s in coverage["segments"] if s["service"] and s["missed"] > 0]
    listed = [s for s in coverage["segments"] if s["service"] and (s["missed"] > 0 or s["no_data"] > 0)]
    assert supervisor.locator("#missed-table tbody tr").count() == len(listed)
    in_db = pilot.sql("SELECT DISTINCT unnest(missed_segments) AS s FROM shift_metrics WHERE route_id = 'route-001'")
    assert {r["s"] for r in in_db} == {s["segment_id"] for s in missed}
    assert supervisor.watch.problems() == []
    screenshot(supervisor, "supervisor-coverage-two-weeks-desktop")


def test_efficiency_table_matches_the_api_week_by_week(supervisor, pilot):
    days = period(pilot)
    api_range = {"from": days["from"], "to": (pilot.start + timedelta(days=pilot.days)).isoformat()}
    routes = api(pilot, "efficiency/routes", bucket="week", **api_range)
    open_page(supervisor, f"efficiency.html?from={days['from']}&to={days['to']}")
    rows = supervisor.eval_on_selector_all(
        "#eff-table tbody tr", "rows => rows.map((r) => [...r.cells].map((c) => c.innerText.trim()))"
    )
    expected = [
        [r["route_id"], str(p["shifts"]), f"{p['coverage_mean'] * 100:.1f} %"]
        for r in sorted(routes, key=lambda r: r["route_id"])
        for p in [*r["periods"], r["whole_range"]]
    ]
    assert [[row[0], row[2], row[3]] for row in rows] == expected
    assert all(not p["suppressed"] for r in routes for p in r["periods"])  # two whole weeks: nothing withheld
    assert supervisor.locator(".js-plotly-plot").count() == 5


def test_live_map_shows_on_duty_trucks_only(supervisor, pilot):
    # A position "now" from a truck with no shift right now (the ingest would never store it;
    # the page must not show it even so).
    # The on-duty truck's position is refreshed too: the session's pilot was loaded minutes ago,
    # and a position older than policy.LIVE_MAX_AGE_S is rightly not shown.
    off_duty = next(v for v in ("truck-002", "truck-003") if v != pilot.live_vehicle)
    now = datetime.now(timezone.utc)
    for vehicle in (off_duty, pilot.live_vehicle):
        pilot.sql(
            "INSERT INTO fixes (vehicle_id, ts, lon, lat) SELECT $1, $2, lon, lat FROM fixes "
            "WHERE vehicle_id = $1 ORDER BY ts LIMIT 1",
            vehicle,
            now - timedelta(seconds=20),
        )
    try:
        open_page(supervisor, "live.html")
        table = supervisor.inner_text("#live-vehicles")
        assert pilot.live_vehicle in table
        assert off_duty not in table
        assert supervisor.locator("#live-vehicles tbody tr").count() == 1
        assert supervisor.watch.problems() == []
    finally:
        for vehicle in (off_duty, pilot.live_vehicle):
            pilot.sql("DELETE FROM fixes WHERE vehicle_id = $1 AND ts = $2", vehicle, now - timedelta(seconds=20))


def test_plan_edits_are_saved_as_new_versions_of_both_routes(supervisor, pilot, tmp_path):
    before = {r["route_id"]: r["current_version"] for r in pilot.sql("SELECT route_id, current_version FROM routes")}
    # Move between the last two routes; edit another one by file (route-001 stays as the coverage test reads it).
    source, target, imported = sorted(before)[-2], sorted(before)[-1], sorted(before)[1]
    stops = [
        r["stop_id"]
        for r in pilot.sql(
            "SELECT stop_id FROM route_stops WHERE route_id = $1 AND version = $2 ORDER BY seq", source, before[source]
        )
    ]
    moved = pilot.sql(
        "SELECT segment_id FROM route_segments WHERE route_id = $1 AND version = $2 ORDER BY seq DESC LIMIT 1",
        source,
        before[source],
    )[0]["segment_id"]
    moved_stops = {
        r["stop_id"]
        for r in pilot.sql(
            "SELECT stop_id FROM route_stops WHERE route_id = $1 AND version = $2 AND segment_id = $3",
            source,
            before[source],
            moved,
        )
    }
    open_page(supervisor, f"plans.html?route={source}")
    # Reorder with the keyboard: focus the first stop's "later" button and press Enter.
    supervisor.get_by_role("button", name=f"Move stop {stops[0]} later").focus()
    supervisor.keyboard.press("Enter")
    supervisor.locator(f'#segments input[data-pick="{moved}"]').check()
    supervisor.get_by_label("To route").select_option(target)
    supervisor.get_by_role("button", name="Move 1 selected segment(s)").click()
    supervisor.get_by_label("What changed and why").fill("browser test: even out finishing times")
    supervisor.get_by_role("button", name="Save 2 changed route(s) as new versions").click()
    supervisor.wait_for_selector("#plan-message .alert.ok")
    screenshot(supervisor, "supervisor-plans-saved-desktop")
    after = {r["route_id"]: r["current_version"] for r in pilot.sql("SELECT route_id, current_version FROM routes")}
    assert after[source] == before[source] + 1 and after[target] == before[target] + 1
    new_stops = [
        r["stop_id"]
        for r in pilot.sql(
            "SELECT stop_id FROM route_stops WHERE route_id = $1 AND version = $2 ORDER BY seq", source, after[source]
        )
    ]
    assert new_stops[:2] == [stops[1], stops[0]]
    assert moved in {
        r["segment_id"]
        for r in pilot.sql(
            "SELECT segment_id FROM route_segments WHERE route_id = $1 AND version = $2", target, after[target]
        )
    }
    # The stops on the moved segment went with it.
    assert moved_stops <= {
        r["stop_id"]
        for r in pilot.sql(
            "SELECT stop_id FROM route_stops WHERE route_id = $1 AND version = $2", target, after[target]
        )
    }
    assert not moved_stops & set(new_stops)
    note = pilot.sql(
        "SELECT created_by, note FROM route_versions WHERE route_id = $1 AND version = $2", source, after[source]
    )[0]
    assert note["note"] == "browser test: even out finishing times"
    assert pilot.users["supervisor"] in (note["created_by"] or "")

    # Export all plans, swap two segments of another route in the file and import it back.
    with supervisor.expect_download() as waiting:
        supervisor.get_by_role("button", name="Export all plans (GeoJSON)").click()
    exported = json.loads(open(waiting.value.path()).read())
    assert {f["properties"]["route_id"] for f in exported["features"]} == set(after)
    segments = [
        f
        for f in exported["features"]
        if f["properties"]["route_id"] == imported and f["properties"]["feature_type"] == "segment"
    ]
    segments[0]["properties"]["seq"], segments[1]["properties"]["seq"] = (
        segments[1]["properties"]["seq"],
        segments[0]["properties"]["seq"],
    )
    upload = tmp_path / "edited-routes.geojson"
    upload.write_text(json.dumps(exported))
    supervisor.get_by_label("Import plans from a GeoJSON file").set_input_files(str(upload))
    supervisor.wait_for_selector("#plan-message .alert.ok >> text=Imported")
    final = {r["route_id"]: r["current_version"] for r in pilot.sql("SELECT route_id, current_version FROM routes")}
    assert final[imported] == after[imported] + 1
    assert final[source] == after[source]  # unchanged plans keep their version
    assert supervisor.watch.problems() == []
