"""The data officer's hotspot page lists exactly the API's hotspot places and, in its details, units; exports
download the k-respecting files, and "What if" appears only when its API exists."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import httpx
import pytest
from browser.harness import ARTIFACTS, DESKTOP, Watch, open_page, screenshot, signed_in_context

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
def test_hotspot_table_lists_the_apis_places_and_the_details_its_units(officer, pilot, level):
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
    assert f"{found['tested_units']:,} {'grid cells' if level == 'cells' else 'street segments'} were tested" in (
        officer.inner_text("#method")
    )
    if level == "segments":  # the small test fleet gives a few significant segments, not yet cells
        assert found["places"]
    # The headline: places by name, with rate, fleet rate, ratio and interval, and why in words.
    rows = officer.eval_on_selector_all(
        "#hotspot-places tbody tr:not(:has(td[colspan]))",
        "rows => rows.map((r) => [...r.cells].map((c) => c.innerText.trim()))",
    )
    assert [r[1] for r in rows] == [p["name"] for p in found["places"]]
    for row, place in zip(rows, found["places"]):
        assert row[2].startswith(f"{place['rate_per_1000']:,.1f} (") and row[4].startswith(f"{place['ratio']:,.1f}×")
        assert row[5] == place["significance"]
        assert not any(ch.isdigit() for ch in place["name"].split(" (")[0]), "a place named by an id"
    units = {u["unit_id"]: u for u in found["units"]}
    assert all(units[i]["events"] > 0 for p in found["places"] for i in p["units"])  # no event-less cell is a place
    assert not officer.locator("#hotspot-places [data-unit]").count()  # no ids in the headline
    # The details: every flagged unit with its id and its place.
    officer.click(".unit-details summary")
    shown = officer.eval_on_selector_all("#hotspot-units [data-unit]", "units => units.map((u) => u.dataset.unit)")
    assert shown == [u["unit_id"] for u in significant]
    details = officer.eval_on_selector_all(
        "#hotspot-units tbody tr:not(:has(td[colspan]))",
        "rows => rows.map((r) => [...r.cells].map((c) => c.innerText.trim()))",
    )
    assert [(int(r[2].replace(",", "")), int(r[3].replace(",", ""))) for r in details] == [
        (u["passes"], u["events"]) for u in significant
    ]
    assert officer.watch.problems() == []
    screenshot(officer, f"data_officer-hotspots-{level}-desktop")
    # What the table says, as text, beside the screenshot (the before/after).
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"hotspots-{level}.txt").write_text(officer.inner_text("main") + "\n")


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
