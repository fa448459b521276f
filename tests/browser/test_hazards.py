"""Hazard reports from the cab in Chromium at 375 px: one tap (by keyboard) sends a report
from where the phone is; without signal a report waits on the phone and is sent once when
it is back online; the supervisor's list shows the place and kind, never the reporter."""

from __future__ import annotations

import json
import time

import httpx
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

pytestmark = pytest.mark.browser
REPORTS = "SELECT h.category, h.segment_id, r.located_by, r.note FROM hazard_reports r JOIN hazards h USING (hazard_id)"


def _clear(pilot) -> None:
    pilot.sql("DELETE FROM hazard_reports")
    pilot.sql("DELETE FROM hazards")


@pytest.fixture
def crew(browser, pilot):
    _clear(pilot)
    street = pilot.sql("SELECT segment_id, geometry::text AS g FROM street_segments ORDER BY segment_id LIMIT 1")[0]
    (lon0, lat0), (lon1, lat1) = json.loads(street["g"])["coordinates"][:2]
    context = signed_in_context(browser, pilot.base, pilot.tokens["driver"], PHONE)
    context.grant_permissions(["geolocation"])
    context.set_geolocation({"longitude": (lon0 + lon1) / 2, "latitude": (lat0 + lat1) / 2, "accuracy": 5})
    page = context.new_page()
    page.watch = Watch().attach(page)
    page.street = street["segment_id"]
    yield page
    context.close()
    _clear(pilot)


def _sent(page) -> None:
    try:
        page.wait_for_selector("#my-reports li[data-status='reported']", timeout=10_000)
    except Exception as error:
        raise AssertionError((page.inner_text("#report-status"), page.watch.problems())) from error


def test_one_tap_by_keyboard_reports_where_the_phone_is(crew, pilot, axe):
    assert open_page(crew, "driver.html#report") == "true"
    crew.fill("#hazard-note", "signal too short for the truck")
    crew.keyboard.press("Tab")  # from the note to the first category: one key to send
    assert crew.evaluate("document.activeElement.dataset.category") == "dangerous_intersection"
    crew.keyboard.press("Enter")
    _sent(crew)
    assert "Dangerous intersection: sent" in crew.inner_text("#report-status")
    assert [tuple(r) for r in pilot.sql(REPORTS)] == [
        ("dangerous_intersection", crew.street, "position", "signal too short for the truck")
    ]
    mine = crew.inner_text("#my-reports")
    assert "Dangerous intersection" in mine and "Reported" in mine and "signal too short" in mine
    assert horizontal_overflow(crew) <= 0, "the report card scrolls sideways on a 375 px screen"
    assert axe.check(crew, "driver-hazard-report") == []
    assert crew.watch.problems() == []
    crew.locator("#report-card").screenshot(path=str(screenshot(crew, "driver-hazard-report-phone")))


def test_a_report_made_without_signal_is_sent_once_when_back_online(crew, pilot):
    open_page(crew, "driver.html#report")
    crew.select_option("#hazard-street", index=1)  # a street of the shift: the keyboard's map point
    assert crew.is_checked("input[name='hazard-where'][value='map']")
    crew.context.set_offline(True)
    crew.click("button[data-category='blocked_street']")
    crew.wait_for_selector("#my-reports li[data-status='queued']")
    assert "No signal now" in crew.inner_text("#report-status")
    assert pilot.sql(REPORTS) == []
    crew.context.set_offline(False)  # the browser fires "online": the queue is sent
    rows = wait_for_rows(pilot, REPORTS, 1)
    assert [(r["category"], r["located_by"]) for r in rows] == [("blocked_street", "map")]
    _sent(crew)
    assert crew.evaluate(
        "Object.keys(localStorage).filter((k) => k.startsWith('fleetpilot.hazard-queue')).map((k) => localStorage.getItem(k))"
    ) == ["[]"]
    crew.reload()
    crew.wait_for_selector("body[data-ready]")
    time.sleep(0.5)
    assert len(pilot.sql(REPORTS)) == 1  # sent once, whatever reloads follow
    crew.watch.clear()  # the offline page's failed requests are expected


def test_the_supervisors_list_shows_place_and_kind_never_the_reporter(crew, browser, pilot, axe):
    open_page(crew, "driver.html#report")
    crew.click("button[data-category='road_damage']")
    wait_for_rows(pilot, REPORTS, 1)
    context = signed_in_context(browser, pilot.base, pilot.tokens["supervisor"], DESKTOP)
    page = context.new_page()
    try:
        open_page(page, "hazards.html")
        rows = page.eval_on_selector_all(
            "#hazards-table tbody tr", "rows => rows.map((r) => [...r.cells].map((c) => c.innerText.trim()))"
        )
        assert len(rows) == 1 and rows[0][1] == "Road damage" and rows[0][2] == "Reported"
        assert rows[0][3].startswith("fewer than")  # one reporter: no count
        text = page.inner_text("main")
        for secret in (pilot.users["driver"], pilot.person):
            assert secret not in text
        assert axe.check(page, "supervisor-hazards") == []
        screenshot(page, "supervisor-hazards-desktop")
    finally:
        context.close()


def test_the_crew_sees_a_hazard_fixed_after_a_supervisor_marks_it(crew, browser, pilot, axe):
    """Report from the phone, the supervisor moves it to fixed on the hazard list (by keyboard:
    labelled fields and a submit button), and the reporter's page shows what was done and when."""
    open_page(crew, "driver.html#report")
    crew.click("button[data-category='dangerous_intersection']")
    _sent(crew)
    hazard = wait_for_rows(pilot, "SELECT hazard_id FROM hazards", 1)[0]["hazard_id"]
    context = signed_in_context(browser, pilot.base, pilot.tokens["supervisor"], DESKTOP)
    page = context.new_page()
    try:
        open_page(page, "hazards.html")
        page.select_option(f"#st-{hazard}", "fixed")
        page.fill(f"#what-{hazard}", "signal retimed")
        page.fill(f"#on-{hazard}", "2026-11-30")
        page.focus(f"form[data-hazard='{hazard}'] button")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.wait_for_selector("body[data-ready]")
        assert "Fixed on 2026-11-30: signal retimed" in page.inner_text("#hazards-table")
        assert axe.check(page, "supervisor-hazards-workflow") == []
        screenshot(page, "supervisor-hazard-fixed-desktop")
    finally:
        context.close()
    crew.reload()
    crew.wait_for_selector("#my-reports li[data-status='fixed']")
    assert "Fixed on 2026-11-30: signal retimed" in crew.inner_text("#my-reports")
    # The before/after: the pilot's two weeks all lie before the fix, so the page says how many
    # passes there are so far rather than a change (tests/browser/test_hazard_fixed_walk.py
    # walks a world with weeks on both sides).
    effect = httpx.get(
        f"{pilot.base}/api/v1/hazards/fixed", headers={"Authorization": f"Bearer {pilot.tokens['driver']}"}
    ).json()["hazards"][0]["effect"]
    assert effect["sentence"].startswith("Not enough passes") and f"of {effect['min_passes']}" in effect["sentence"]
    assert effect["sentence"] in crew.inner_text("#my-reports")
    assert effect["sentence"] in crew.inner_text("#fixed-hazards")
    assert axe.check(crew, "driver-hazard-fixed") == []
    crew.locator("#report-card").screenshot(path=str(screenshot(crew, "driver-hazard-fixed-phone")))
