"""311 complaints on the pages: the supervisor's queue shows each complaint with the record's
evidence and suggested reply as the API answers them (times in the city's zone), the counts
per route and week only where the release rule allows, and a CSV for the 311 team; the crew
page shows the complaints about the driver's own route that the record answered in their
favour, and nobody else's. The complaints come from a GeoReport v2 server written from the
spec (tests/georeport_server.py) through the real sync, on the pilot's simulated shifts."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import shapely
from browser.harness import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    Watch,
    horizontal_overflow,
    open_page,
    run_async,
    screenshot,
    signed_in_context,
)
from georeport_server import GeoReport, Served

from fleetpilot.api.db import open_pool
from fleetpilot.api.ogc.params import city_day
from fleetpilot.open311.client import GeoReportClient, GeoReportSettings
from fleetpilot.open311.sync import sync
from fleetpilot.settings import get_settings

pytestmark = pytest.mark.browser
# The driver's latest shifts: a complaint at the middle of each planned segment they collected
# (up to this many), made an hour after the shift ended.
PER_SHIFT = 2
SEGMENTS = """
SELECT rs.segment_id, rs.geometry, m.shift_id, s.ends_at, rs.segment_id = ANY (m.missed_segments) AS missed
FROM shift_metrics m JOIN shifts s USING (shift_id)
JOIN routes r ON r.route_id = m.route_id
JOIN route_segments rs ON rs.route_id = r.route_id AND rs.version = r.current_version AND rs.service
WHERE m.shift_id = ANY ($1::text[])
ORDER BY s.ends_at DESC, rs.seq
"""


def _api(pilot, role: str, path: str, **params):
    answer = httpx.get(
        f"{pilot.base}/api/v1/{path}",
        params=params,
        headers={"Authorization": f"Bearer {pilot.tokens[role]}"},
        timeout=30,
    )
    answer.raise_for_status()
    return answer


@pytest.fixture(scope="module")
def complaints(pilot):
    """Complaints read from the test GeoReport server into the pilot by `sync`."""
    rows = pilot.sql(SEGMENTS, pilot.own_shifts[:3] + pilot.other_shifts[:2])
    requests, per_shift = [], {}
    for row in rows:
        taken = per_shift.setdefault((row["shift_id"], row["missed"]), 0)
        if taken >= PER_SHIFT:
            continue
        per_shift[(row["shift_id"], row["missed"])] += 1
        geometry = row["geometry"]
        middle = shapely.geometry.shape(json.loads(geometry) if isinstance(geometry, str) else geometry).interpolate(
            0.5, normalized=True
        )
        made = row["ends_at"] + timedelta(hours=1)
        requests.append(
            {"service_request_id": f"311-{len(requests) + 1:04d}", "service_code": "SAN-MISSED", "status": "open",
             "requested_datetime": made.isoformat(), "lat": middle.y, "long": middle.x,
             "description": "Bin not emptied"}
        )  # fmt: skip
    made = rows[0]["ends_at"] + timedelta(hours=2)
    requests.append(
        {"service_request_id": "311-far", "service_code": "SAN-MISSED", "status": "open",
         "requested_datetime": made.isoformat(), "lat": 0.5, "long": 0.5, "address": "1 Nowhere Road"}
    )  # fmt: skip
    state = GeoReport(requests=requests)
    server = Served(state)

    async def go():
        pool = await open_pool(pilot.url, max_size=1)  # json decoded as the services decode it
        try:
            async with pool.acquire() as conn:
                # Read from the pilot's first day: the sync re-reads a week before its cursor.
                first = datetime.combine(pilot.start, datetime.min.time(), timezone.utc) + timedelta(days=7)
                await conn.execute("INSERT INTO open311_sync (cursor) VALUES ($1) ON CONFLICT DO NOTHING", first)
                settings = GeoReportSettings(
                    base_url=server.url, service_codes=("SAN-MISSED",), retries=1, backoff_s=0.01
                )
                async with GeoReportClient(settings) as client:
                    return await sync(conn, client, datetime.now(timezone.utc), city_day)
        finally:
            await pool.close()

    try:
        result = run_async(go())
    finally:
        server.stop()
    assert result.error is None and result.stored == len(requests)
    return requests


def _period(pilot) -> dict[str, str]:
    return {"from": pilot.start.isoformat(), "to": (pilot.start + timedelta(days=pilot.days - 1)).isoformat()}


def test_the_supervisor_queue_shows_the_evidence_and_replies(browser, pilot, complaints, axe):
    days = _period(pilot)
    api_days = {**days, "to": (pilot.start + timedelta(days=pilot.days)).isoformat()}
    queue = _api(pilot, "supervisor", "complaints", **api_days, limit=1000).json()
    tally = _api(pilot, "supervisor", "complaints/tally", **api_days).json()
    assert len(queue) == len(complaints)
    verdicts = {c["verdict"] for c in queue}
    assert {"serviced", "no_segment"} <= verdicts, verdicts
    context = signed_in_context(browser, pilot.base, pilot.tokens["supervisor"], DESKTOP)
    page = context.new_page()
    watch = Watch().attach(page)
    open_page(page, f"complaints.html?from={days['from']}&to={days['to']}")
    assert watch.problems() == []
    rows = page.locator("#c-queue-table tbody tr")
    assert rows.count() == len(queue)
    shown = page.locator("#c-queue-table .reply").all_inner_texts()
    assert shown == [c["suggested_reply"] for c in queue]
    # The reply gives the city's clock ("07:42 CST"), as the page's own times do.
    serviced = next(c for c in queue if c["verdict"] == "serviced" and c["passed_at"])
    assert " CST" in serviced["suggested_reply"] or " CDT" in serviced["suggested_reply"]
    assert page.inner_text("#c-fig-total") == str(len(queue))
    assert page.inner_text("#c-fig-serviced") == str(sum(c["verdict"] == "serviced" for c in queue))
    # The tally: one row per (route, week) cell; a withheld cell shows no count.
    tally_rows = page.locator("#c-tally-table tbody tr")
    assert tally_rows.count() == max(1, len(tally["cells"]))
    for n, cell in enumerate(tally["cells"]):
        text = tally_rows.nth(n).inner_text()
        assert (str(cell["complaints"]) in text) if cell["released"] else ("withheld" in text), text
    text = page.inner_text("main")
    assert pilot.person not in text and pilot.other_person not in text
    with page.expect_download() as got:
        page.click("#c-download")
    csv_text = open(got.value.path(), encoding="utf-8").read()
    assert csv_text.splitlines()[0].startswith("service_request_id,") and len(csv_text.splitlines()) == len(queue) + 1
    page.wait_for_function("document.getElementById('c-download-status').textContent.startsWith('Downloaded')")
    screenshot(page, "supervisor-complaints-desktop")
    assert axe.check(page, "supervisor-complaints-queue-desktop") == []
    page.set_viewport_size(PHONE)
    screenshot(page, "supervisor-complaints-phone")
    queue_card = page.locator("section[aria-labelledby=c-queue-h]")
    queue_card.screenshot(path=str(SCREENSHOTS / "supervisor-complaints-queue-phone.png"))
    assert horizontal_overflow(page) <= 0
    assert axe.check(page, "supervisor-complaints-queue-phone") == []
    assert watch.problems() == []
    context.close()


def test_the_crew_page_shows_where_the_record_protected_them(browser, pilot, complaints, axe):
    mine = _api(pilot, "driver", "me/complaints").json()
    assert mine, "no complaint about the driver's own shifts was answered 'collected'"
    assert all(c["verdict"] == "serviced" for c in mine)
    # Only the driver's own shifts: every answered complaint names a (truck, route, day) they crewed.
    own = pilot.sql(
        "SELECT m.vehicle_id, m.route_id, m.day FROM shift_metrics m JOIN shift_crew c USING (shift_id) "
        "WHERE c.person_id = $1",
        pilot.person,
    )
    own = {(r["vehicle_id"], r["route_id"], r["day"].isoformat()) for r in own}
    assert {(c["vehicle_id"], c["route_id"], c["collection_day"]) for c in mine} <= own
    others = _api(pilot, "other_driver", "me/complaints").json()
    assert not {c["service_request_id"] for c in mine} & {c["service_request_id"] for c in others}
    context = signed_in_context(browser, pilot.base, pilot.tokens["driver"], PHONE)
    page = context.new_page()
    watch = Watch().attach(page)
    open_page(page, "driver.html#complaints")
    items = page.locator("#protected li")
    assert items.count() == len(mine)
    assert [items.nth(n).get_attribute("data-complaint") for n in range(len(mine))] == [
        c["service_request_id"] for c in mine
    ]
    assert "Answered in your favour" in items.first.inner_text()
    section = page.locator("section[aria-labelledby=protected-h]")
    section.screenshot(path=str(SCREENSHOTS / "driver-protected-section-phone.png"))
    screenshot(page, "driver-protected-phone")
    assert horizontal_overflow(page) <= 0
    assert axe.check(page, "driver-protected-phone") == []
    page.set_viewport_size(DESKTOP)
    screenshot(page, "driver-protected-desktop")
    section.screenshot(path=str(SCREENSHOTS / "driver-protected-section-desktop.png"))
    assert axe.check(page, "driver-protected-desktop") == []
    assert watch.problems() == []
    context.close()


def test_the_transparency_page_links_the_weekly_release(browser, pilot, tmp_path_factory, axe):
    """The scheduled job's release of the weeks just ended (the pilot's two) is what the
    public transparency page links."""
    from fleetpilot.api.release.schedule import release_if_due

    out = tmp_path_factory.mktemp("releases")
    written = run_async(release_if_due(pilot.url, out, get_settings().timezone, 2))
    assert written is not None, "no release was due for the pilot's two weeks"
    context = signed_in_context(browser, pilot.base, None, DESKTOP)
    page = context.new_page()
    watch = Watch().attach(page)
    open_page(page, "transparency.html")
    link = page.locator("#t-open-data-link")
    href = link.get_attribute("href")
    answer = httpx.get(f"{pilot.base}{href}", timeout=30)
    assert answer.status_code == 200 and answer.json()["temporal"]["start"] == written.scope.start.isoformat()
    assert written.scope.start.strftime("%-d %b %Y") in page.inner_text("#t-open-data")
    page.locator("#t-open-data").scroll_into_view_if_needed()
    screenshot(page, "transparency-open-data-desktop")
    assert axe.check(page, "transparency-open-data-desktop") == []
    assert watch.problems() == []
    context.close()
