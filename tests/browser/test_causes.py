"""Missed streets get their cause, in Chromium: on a 375 px phone the crew picks the cause of a
street their shift missed (by keyboard), without signal it waits on the phone and is sent once
back online; the supervisor's coverage page then shows the street missed for that cause, not
as missed — and never who gave it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from browser.harness import (
    DESKTOP,
    PHONE,
    Watch,
    horizontal_overflow,
    open_page,
    screenshot,
    signed_in_context,
    wait_for_rows,
)
from browser.test_supervisor import api  # the supervisor's GET, shared

pytestmark = pytest.mark.browser
CAUSES = "SELECT shift_id, segment_id, cause FROM missed_causes"


def _coverage(pilot, route: str, days: dict) -> dict:
    return api(pilot, f"routes/{route}/coverage", **days)


@pytest.fixture
def missed(pilot):
    """(shift, route, segment, days): the driver's newest shift on a route whose coverage over
    the pilot's days is released, with a missed service segment (one is marked missed if the
    shift missed none; put back afterwards)."""
    days = {"from": pilot.start.isoformat(), "to": (pilot.start + timedelta(days=pilot.days)).isoformat()}
    rows = pilot.sql(
        "SELECT m.shift_id, m.route_id, m.missed_segments, m.no_data_segments FROM shift_metrics m"
        " JOIN shifts s USING (shift_id) WHERE m.shift_id = ANY($1::text[]) AND m.route_id IS NOT NULL"
        " ORDER BY s.starts_at DESC",
        pilot.own_shifts,
    )
    released = {}
    for row in rows:
        if row["route_id"] not in released:
            released[row["route_id"]] = not _coverage(pilot, row["route_id"], days)["suppressed"]
    row = next((r for r in rows if released[r["route_id"]] and r["missed_segments"]), None)
    row = row or next(r for r in rows if released[r["route_id"]])
    before = list(row["missed_segments"])
    if not before:
        planned = pilot.sql(
            "SELECT rs.segment_id FROM route_segments rs JOIN shifts s ON s.route_id = rs.route_id"
            " AND s.route_version = rs.version WHERE s.shift_id = $1 AND rs.service ORDER BY rs.seq",
            row["shift_id"],
        )
        segment = next(p["segment_id"] for p in planned if p["segment_id"] not in row["no_data_segments"])
        pilot.sql("UPDATE shift_metrics SET missed_segments = $2 WHERE shift_id = $1", row["shift_id"], [segment])
    else:
        segment = before[0]
    pilot.sql("DELETE FROM missed_causes")
    yield row["shift_id"], row["route_id"], segment, days
    pilot.sql("DELETE FROM missed_causes")
    pilot.sql("UPDATE shift_metrics SET missed_segments = $2 WHERE shift_id = $1", row["shift_id"], before)


def test_the_crew_gives_a_cause_offline_and_the_supervisor_sees_it(browser, pilot, missed, axe):
    shift, route, segment, days = missed
    context = signed_in_context(browser, pilot.base, pilot.tokens["driver"], PHONE)
    crew = context.new_page()
    crew.watch = Watch().attach(crew)
    try:
        assert open_page(crew, f"driver.html?shift={shift}#causes") == "true"
        item = f"#missed-causes li[data-segment='{segment}']"
        crew.wait_for_selector(item, state="attached")
        assert "No cause given" in crew.text_content(item)
        # By keyboard: the street, the cause, then Tab to the button and Enter — without signal.
        crew.context.set_offline(True)
        crew.focus("#cause-street")
        crew.select_option("#cause-street", segment)
        crew.keyboard.press("Tab")
        assert crew.evaluate("document.activeElement.id") == "cause-kind"
        crew.select_option("#cause-kind", "parked_cars")
        crew.keyboard.press("Tab")
        assert crew.evaluate("document.activeElement.textContent") == "Save cause"
        crew.keyboard.press("Enter")
        crew.locator(item, has_text="Waiting for signal").wait_for(state="attached")
        assert "No signal now" in crew.inner_text("#cause-status")
        assert pilot.sql(CAUSES) == []
        crew.context.set_offline(False)  # the browser fires "online": the outbox is sent
        rows = wait_for_rows(pilot, CAUSES, 1)
        assert [tuple(r) for r in rows] == [(shift, segment, "parked_cars")]
        crew.locator(item, has_text="Cause: Parked cars").wait_for(state="attached")
        crew.reload()
        crew.wait_for_selector("body[data-ready]")
        crew.wait_for_selector(item, state="attached")
        assert "Cause: Parked cars" in crew.text_content(item)
        assert len(pilot.sql(CAUSES)) == 1  # sent once, whatever reloads follow
        audited = pilot.sql(
            "SELECT count(*) AS n FROM audit_log WHERE action = 'give_missed_cause' AND shift_id = $1", shift
        )
        assert audited[0]["n"] == 1
        assert horizontal_overflow(crew) <= 0, "the causes card scrolls sideways on a 375 px screen"
        assert axe.check(crew, "driver-missed-causes") == []
        crew.select_option("#cause-street", segment)  # the phone as the crew sees it after saving
        assert crew.inner_text("#cause-current") == "Now: Cause: Parked cars."
        crew.locator("#causes-card").screenshot(path=str(screenshot(crew, "driver-missed-causes-phone")))
        crew.click("#causes-list summary")
        crew.locator("#causes-card").screenshot(path=str(screenshot(crew, "driver-missed-causes-list-phone")))
        crew.watch.clear()  # the offline page's failed requests are expected
    finally:
        context.close()

    after = next(s for s in _coverage(pilot, route, days)["segments"] if s["segment_id"] == segment)
    assert after["caused"] >= 1 and after["causes"].get("parked_cars", 0) >= 1
    context = signed_in_context(browser, pilot.base, pilot.tokens["supervisor"], DESKTOP)
    page = context.new_page()
    page.watch = Watch().attach(page)
    try:
        last = (pilot.start + timedelta(days=pilot.days - 1)).isoformat()
        open_page(page, f"coverage.html?route={route}&from={days['from']}&to={last}")
        rows = page.eval_on_selector_all(
            "#missed-table tbody tr", "rows => rows.map((r) => [...r.cells].map((c) => c.innerText.trim()))"
        )
        row = next(r for r in rows if r[0] == segment)
        assert f"parked cars {after['causes']['parked_cars']}" in row[5]
        assert row[2] == str(after["missed"])  # missed without a cause only
        assert "for a cause" in page.inner_text("#no-data-note")
        text = page.inner_text("main")
        for secret in (pilot.users["driver"], pilot.person, shift):
            assert secret not in text
        assert axe.check(page, "supervisor-coverage-causes") == []
        assert page.watch.problems() == []
        screenshot(page, "supervisor-coverage-causes-desktop")
    finally:
        context.close()
