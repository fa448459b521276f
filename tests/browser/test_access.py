"""Purpose-bound individual access: a supervisor finds a shift by truck and time, sees nothing
of it until a purpose is stated, opens it, and the crew member then reads who opened it and
why in "who looked at my data, and why"."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from browser.harness import DESKTOP, PHONE, Watch, open_page, screenshot, signed_in_context

from fleetpilot.localtime import zone

pytestmark = pytest.mark.browser


def test_a_supervisor_opens_a_shift_for_a_purpose_and_the_driver_sees_why(browser, pilot, pilot_settings):
    shift_id = pilot.own_shifts[2]  # not the one the fixture opened
    shift = pilot.sql("SELECT vehicle_id, starts_at FROM shifts WHERE shift_id = $1", shift_id)[0]
    purpose = f"complaint {uuid.uuid4().hex[:6]}: bins left on Elm Street"
    context = signed_in_context(browser, pilot.base, pilot.tokens["supervisor"], DESKTOP)
    page = context.new_page()
    watch = Watch().attach(page)
    assert open_page(page, "access.html") == "true"
    page.get_by_label("Truck").fill(shift["vehicle_id"])
    # The form asks for the city's wall-clock time (FLEETPILOT_TIMEZONE), not UTC.
    local = (shift["starts_at"] + timedelta(minutes=30)).astimezone(zone(pilot_settings.timezone))
    page.get_by_label("At (the city's local time)").fill(local.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Find the shift").click()
    page.wait_for_selector(f"#shift-id option[value='{shift_id}']", state="attached")
    assert page.input_value("#shift-id") == shift_id
    # No purpose, or one that says nothing: the shift cannot be opened and nothing of it is shown.
    opener = page.get_by_role("button", name="Open this shift")
    assert opener.is_disabled()
    page.get_by_label("Purpose").fill("check")
    assert opener.is_disabled()
    assert page.is_hidden("#opened")
    assert not any("/open" in r for r in watch.requests)
    page.get_by_label("Purpose").fill(purpose)
    opener.click()
    page.wait_for_selector("#opened:not([hidden]) .js-plotly-plot")
    assert page.inner_text("#op-shift") == shift_id
    assert purpose in page.inner_text("#opened-purpose")
    metrics = pilot.sql("SELECT distance_m FROM shift_metrics WHERE shift_id = $1", shift_id)[0]
    assert page.inner_text("#op-distance") == f"{metrics['distance_m'] / 1000:,.1f} km"
    # Times are the city's wall clock with its zone, whatever the browser's own zone (UTC here).
    starts = shift["starts_at"].astimezone(zone(pilot_settings.timezone))
    assert page.inner_text("#op-window").startswith(f"{starts:%H:%M} {starts.tzname()}")
    screenshot(page, "supervisor-access-opened-desktop")
    assert watch.problems() == []
    context.close()

    driver = signed_in_context(browser, pilot.base, pilot.tokens["driver"], PHONE).new_page()
    assert open_page(driver, "driver.html#access") == "true"
    rows = driver.eval_on_selector_all("#access-table tbody tr", "rows => rows.map((r) => r.innerText)")
    assert any(purpose in r and shift_id in r and pilot.users["supervisor"] in r for r in rows), rows
    driver.context.close()


def test_a_truck_with_no_shift_at_that_time_opens_nothing(browser, pilot):
    context = signed_in_context(browser, pilot.base, pilot.tokens["supervisor"], PHONE)
    page = context.new_page()
    open_page(page, "access.html")
    page.get_by_label("Truck").fill(pilot.live_vehicle)
    page.get_by_label("At (the city's local time)").fill("2001-01-01T12:00")
    page.get_by_role("button", name="Find the shift").click()
    page.wait_for_selector("#found-none")
    assert page.is_disabled("#shift-id") and page.get_by_role("button", name="Open this shift").is_disabled()
    context.close()
