"""The administration page (admins only): privacy settings that the public transparency page
then shows, privacy zones, accounts (a crew member's linked to their person record, disabled
and enabled), devices, retention and the audit log. Other roles are neither offered the page
nor shown it when they type its address."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from browser.harness import DESKTOP, PHONE, Watch, open_page, screenshot, signed_in_context

pytestmark = pytest.mark.browser


@pytest.fixture
def admin(browser, pilot):
    context = signed_in_context(browser, pilot.base, pilot.tokens["admin"], DESKTOP)
    page = context.new_page()
    page.watch = Watch().attach(page)
    yield page
    context.close()


@pytest.fixture
def privacy_restored(pilot):
    """The other browser tests count on the pilot's k: put the settings back afterwards."""
    headers = {"Authorization": f"Bearer {pilot.tokens['admin']}"}
    before = httpx.get(f"{pilot.base}/api/v1/admin/privacy", headers=headers).json()
    yield before
    keep = {k: before[k] for k in ("retention_days", "k_min_shifts", "k_min_people", "zone_policy")}
    httpx.put(f"{pilot.base}/api/v1/admin/privacy", json=keep, headers=headers).raise_for_status()


def test_admin_changes_k_and_the_transparency_page_shows_it(admin, pilot, privacy_restored):
    new_k = privacy_restored["k_min_shifts"] + 2
    assert open_page(admin, "admin.html") == "true"
    assert admin.input_value("#k-shifts") == str(privacy_restored["k_min_shifts"])
    admin.get_by_label("Smallest group: shifts").fill(str(new_k))
    admin.get_by_role("button", name="Save privacy settings").click()
    admin.wait_for_selector("#privacy-status >> text=Saved.")
    assert pilot.sql("SELECT k_min_shifts FROM privacy_settings")[0]["k_min_shifts"] == new_k
    assert "change_privacy_settings" in admin.inner_text("#audit-table")
    assert open_page(admin, "transparency.html") == "true"
    assert admin.inner_text("#t-k-shifts") == f"{new_k} shifts"
    who = admin.eval_on_selector_all(
        "section[aria-labelledby='t-access-h'] tbody tr", "rows => rows.map((r) => r.cells[0].innerText.trim())"
    )
    assert who and all(who), f"every rule says who: {who}"  # the device doors have no role, but a who
    assert admin.watch.problems() == []


def test_admin_refused_settings_are_reported_not_saved(admin, pilot, privacy_restored):
    open_page(admin, "admin.html")
    # k = 1 would make a single person's data an "aggregate": the API refuses it, the page says so.
    admin.eval_on_selector("#k-people", "el => { el.removeAttribute('min'); el.value = '1'; }")
    admin.get_by_role("button", name="Save privacy settings").click()
    admin.wait_for_selector(".alert.error")
    assert "Refused" in admin.inner_text(".alert.error")
    assert pilot.sql("SELECT k_min_people FROM privacy_settings")[0]["k_min_people"] == privacy_restored["k_min_people"]


def test_admin_adds_and_removes_a_privacy_zone(admin, pilot):
    name = f"Clinic car park {uuid.uuid4().hex[:6]}"
    open_page(admin, "admin.html")
    admin.get_by_label("Zone name").fill(name)
    admin.get_by_label("Longitude").fill("10.0012")
    admin.get_by_label("Latitude").fill("50.0021")
    admin.get_by_label("Radius (m)").fill("120")
    admin.get_by_role("button", name="Add zone").click()
    admin.wait_for_selector(f"#zones-table >> text={name}")
    row = pilot.sql("SELECT lon, lat, radius_m FROM privacy_zones WHERE name = $1", name)[0]
    assert (round(row["lon"], 4), round(row["lat"], 4), row["radius_m"]) == (10.0012, 50.0021, 120)
    admin.get_by_role("button", name=f"Remove zone {name}").click()
    admin.wait_for_selector(f"#zones-table >> text={name}", state="detached")
    assert pilot.sql("SELECT count(*) AS n FROM privacy_zones WHERE name = $1", name)[0]["n"] == 0
    assert admin.watch.problems() == []


def test_admin_adds_a_crew_members_account_and_disables_it(admin, pilot):
    username = f"driver-{uuid.uuid4().hex[:6]}"
    open_page(admin, "admin.html")
    assert admin.is_hidden("#person-field") or admin.is_disabled("#new-person")
    admin.get_by_label("User name", exact=True).fill(username)
    admin.get_by_label("First password").fill("a-long-first-password")
    admin.get_by_label("Role").select_option("driver")
    admin.wait_for_selector("#new-person option", state="attached")  # people without an account (an audited read)
    person = admin.input_value("#new-person")
    assert pilot.sql("SELECT count(*) AS n FROM users WHERE person_id = $1", person)[0]["n"] == 0
    admin.get_by_role("button", name="Add user").click()
    admin.wait_for_selector(f"#user-status >> text=Added {username}")
    stored = pilot.sql("SELECT role, person_id, disabled FROM users WHERE username = $1", username)[0]
    assert (stored["role"], stored["person_id"], stored["disabled"]) == ("driver", person, False)
    admin.get_by_role("button", name=f"Disable {username}").click()
    admin.wait_for_selector(f"button[aria-label='Enable {username}']")
    assert pilot.sql("SELECT disabled FROM users WHERE username = $1", username)[0]["disabled"] is True
    admin.get_by_role("button", name=f"Enable {username}").click()
    admin.wait_for_selector(f"button[aria-label='Disable {username}']")
    assert pilot.sql("SELECT disabled FROM users WHERE username = $1", username)[0]["disabled"] is False
    audit = admin.inner_text("#audit-table")
    assert "create_user" in audit and "change_user" in audit and "read_identities" in audit
    assert admin.watch.problems() == []


def test_admin_registers_a_device_and_runs_retention(admin, pilot):
    device = f"dev-test-{uuid.uuid4().hex[:6]}"
    open_page(admin, "admin.html")
    admin.get_by_label("Device id").fill(device)
    admin.get_by_label("Truck").select_option(pilot.live_vehicle)
    admin.get_by_role("button", name="Register device").click()
    admin.wait_for_selector(f"#devices-table >> text={device}")
    assert (
        pilot.sql("SELECT vehicle_id FROM devices WHERE device_id = $1", device)[0]["vehicle_id"] == pilot.live_vehicle
    )
    # The pilot's data is weeks old and the retention period longer: nothing is removed.
    fixes = pilot.sql("SELECT count(*) AS n FROM fixes")[0]["n"]
    admin.get_by_role("button", name="Remove expired raw data now").click()
    admin.wait_for_selector("#retention-status >> text=Done")
    assert pilot.sql("SELECT count(*) AS n FROM fixes")[0]["n"] == fixes
    assert "run_retention" in admin.inner_text("#audit-table")
    admin.set_viewport_size(PHONE)
    screenshot(admin, "admin-admin-after-changes-phone")
    assert admin.watch.problems() == []


@pytest.mark.parametrize("role", ["driver", "supervisor", "data_officer"])
def test_other_roles_are_not_offered_the_admin_page_and_cannot_reach_it(browser, pilot, role):
    context = signed_in_context(browser, pilot.base, pilot.tokens[role], DESKTOP)
    page = context.new_page()
    open_page(page, "transparency.html")
    assert "admin.html" not in page.eval_on_selector_all(
        ".site-nav a", "links => links.map((a) => a.getAttribute('href'))"
    )
    page.goto("/app/admin.html")
    page.wait_for_url(lambda url: not url.endswith("/admin.html"), wait_until="commit")
    page.wait_for_selector("body[data-ready]")
    assert "Administration" not in page.inner_text("main")
    assert page.locator("#users-table").count() == 0
    context.close()


def test_admin_sees_a_trucks_messages_held_for_clock_skew_and_replays_them(admin, pilot):
    """Decision 0014: the page shows counts and skews (no positions), and its Replay button
    sends the held messages through the ingest; the held copy is gone and the replay audited."""
    import time

    vid = f"skew-{uuid.uuid4().hex[:6]}"
    city = pilot.sql("SELECT city FROM vehicles ORDER BY vehicle_id LIMIT 1")[0]["city"]
    pilot.sql("INSERT INTO vehicles (vehicle_id, city) VALUES ($1, $2)", vid, city)
    pilot.sql(
        "INSERT INTO shifts (shift_id, vehicle_id, starts_at, ends_at) "
        "VALUES ($1, $2, now() - interval '1 hour', now() + interval '1 hour')",
        f"s-{vid}",
        vid,
    )
    now_ms, ahead_ms = int(time.time() * 1000), 600_000
    fixes = [[now_ms - 1000 + ahead_ms, -96.8, 32.78, 5.0, 90.0, 0.9]]
    body = json.dumps({"v": 1, "vid": vid, "seq": 1, "sent": now_ms + ahead_ms, "fixes": fixes}).encode()
    pilot.sql(
        "INSERT INTO skew_held (vehicle_id, received_at, topic, payload, payload_sha256, skew_ms) "
        "VALUES ($1, now(), $2, $3, sha256($3), $4)",
        vid,
        f"fleet/{city}/{vid}/telemetry",
        body,
        ahead_ms,
    )
    try:
        _see_and_replay(admin, pilot, vid)
    finally:
        # The replayed fix is "now" on a shift on duty for an hour: left in the session's pilot,
        # it is a second truck on the live map of the tests that follow.
        pilot.sql("DELETE FROM fixes WHERE vehicle_id = $1", vid)
        pilot.sql("DELETE FROM skew_held WHERE vehicle_id = $1", vid)
        pilot.sql("UPDATE shifts SET ends_at = now() - interval '1 minute' WHERE vehicle_id = $1", vid)


def _see_and_replay(admin, pilot, vid: str) -> None:
    from browser.harness import horizontal_overflow

    open_page(admin, "admin.html")
    row = admin.inner_text(f"#skew-table tr:has-text('{vid}')")
    assert "600 s ahead" in row and "32.78" not in row
    section = admin.locator("section[aria-labelledby='skew-h']")
    screenshot(admin, "admin-skew-held-desktop")
    section.screenshot(
        path=str(screenshot(admin, "admin-skew-held-desktop").with_name("admin-skew-section-desktop.png"))
    )
    admin.set_viewport_size(PHONE)
    assert horizontal_overflow(admin) == 0
    screenshot(admin, "admin-skew-held-phone")
    section.screenshot(path=str(screenshot(admin, "admin-skew-held-phone").with_name("admin-skew-section-phone.png")))
    admin.set_viewport_size(DESKTOP)
    admin.locator(f"form[data-replay='{vid}']").get_by_role("button", name="Replay").click()
    admin.wait_for_selector("#skew-status >> text=1 of 1 messages replayed")
    assert "1 positions" in admin.inner_text("#skew-status")
    admin.wait_for_selector(f"#skew-table >> text={vid}", state="detached")
    assert pilot.sql("SELECT count(*) AS n FROM fixes WHERE vehicle_id = $1", vid)[0]["n"] == 1
    # The audit table is read again after the replay answers: wait for it, as a person would.
    admin.wait_for_selector("#audit-table >> text=replay_skew_held")
    screenshot(admin, "admin-skew-replayed-desktop")
    assert admin.watch.problems() == []
