"""The data officer's hotspot page lists exactly the API's significant hotspots, exports
download the k-respecting files, and "What if" appears only when its API exists."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import httpx
import pytest
from browser.harness import DESKTOP, Watch, open_page, screenshot, signed_in_context

pytestmark = pytest.mark.browser


@pytest.fixture
def officer(browser, pilot):
    context = signed_in_context(browser, pilot.base, pilot.tokens["data_officer"], DESKTOP)
    page = context.new_page()
    page.watch = Watch().attach(page)
    yield page
    context.close()


def days(pilot) -> tuple[str, str, str]:
    """First day, last day (shown) and the day after (the API's exclusive end)."""
    last = pilot.start + timedelta(days=pilot.days - 1)
    return pilot.start.isoformat(), last.isoformat(), (last + timedelta(days=1)).isoformat()


@pytest.mark.parametrize("level", ["cells", "segments"])
def test_hotspot_table_lists_the_apis_significant_places_in_order(officer, pilot, level):
    first, last, end = days(pilot)
    found = httpx.get(
        f"{pilot.base}/api/v1/hotspots/{level}",
        params={"from": first, "to": end, "kind": "harsh_brake"},
        headers={"Authorization": f"Bearer {pilot.tokens['data_officer']}"},
    ).json()
    significant = [u for u in found["units"] if u["significant"] and u["geometry"]]
    open_page(officer, f"hotspots.html?level={level}&kind=harsh_brake&from={first}&to={last}")
    method = {"gi_star": "Getis-Ord Gi*", "poisson_exceedance": "Poisson"}[found["method"]]
    assert method in officer.inner_text("#method")
    assert officer.inner_text("#method").startswith(f"{found['tested_units']:,} {level} tested.")
    shown = officer.eval_on_selector_all("#hotspot-units [data-unit]", "units => units.map((u) => u.dataset.unit)")
    if level == "segments":  # the small test fleet gives a few significant segments, not yet cells
        assert significant
    assert shown == [u["unit_id"] for u in significant]
    rows = officer.eval_on_selector_all(
        "#hotspot-units tbody tr:not(:has(td[colspan]))",
        "rows => rows.map((r) => [...r.cells].map((c) => c.innerText.trim()))",
    )
    assert [(int(r[1].replace(",", "")), int(r[2].replace(",", ""))) for r in rows] == [
        (u["passes"], u["events"]) for u in significant
    ]
    assert officer.watch.problems() == []
    screenshot(officer, f"data_officer-hotspots-{level}-desktop")


def test_exports_download_the_efficiency_csv(officer, pilot):
    first, last, end = days(pilot)
    open_page(officer, f"exports.html?from={first}&to={last}")
    with officer.expect_download() as waiting:
        officer.locator("button[data-dataset='route_efficiency'][data-format='csv']").click()
    rows = list(csv.DictReader(io.StringIO(open(waiting.value.path()).read())))
    routes = {r["route_id"] for r in pilot.sql("SELECT DISTINCT route_id FROM shift_metrics")}
    assert {r["route_id"] for r in rows} == routes
    assert waiting.value.suggested_filename == f"fleetpilot-route_efficiency-{first}-{end}.csv"
    assert "Downloaded" in officer.inner_text("#export-status")
    assert officer.watch.problems() == []


def test_what_if_is_offered_exactly_when_its_api_exists(officer, pilot):
    exists = any(path.startswith("/api/v1/whatif") for path in pilot.openapi_paths)
    open_page(officer, "hotspots.html")
    assert (officer.locator(".site-nav a[href='whatif.html']").count() == 1) == exists
