"""The crew member's page shows their own real numbers, their access log and their download,
and nothing of anyone else, whatever they type into the address bar."""

from __future__ import annotations

import json
import math
import zipfile
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from browser.harness import DESKTOP, PHONE, Watch, horizontal_overflow, open_page, screenshot, signed_in_context

from fleetpilot.localtime import DEFAULT_TIMEZONE

pytestmark = pytest.mark.browser


@pytest.fixture
def driver_page(browser, pilot):
    context = signed_in_context(browser, pilot.base, pilot.tokens["driver"], PHONE)
    page = context.new_page()
    page.watch = Watch().attach(page)
    yield page
    context.close()


def km(metres: float) -> str:
    return f"{metres / 1000:,.1f} km"


def test_latest_shift_shows_the_numbers_the_database_holds(driver_page, pilot):
    latest = pilot.own_shifts[0]
    metrics = pilot.sql("SELECT * FROM shift_metrics WHERE shift_id = $1", latest)[0]
    events = pilot.sql("SELECT kind, context FROM shift_events WHERE shift_id = $1 AND kind <> 'reversing'", latest)
    assert open_page(driver_page, "driver.html") == "true"
    assert driver_page.input_value("#shift-select") == latest
    assert driver_page.inner_text("#fig-distance") == km(metrics["distance_m"])
    assert driver_page.inner_text("#fig-stops") == f"{metrics['stops']:,}"
    assert driver_page.inner_text("#fig-coverage") == f"{round(metrics['coverage'] * 100)} %"
    assert driver_page.inner_text("#fig-events") == str(len(events))
    assert driver_page.locator("#events li[data-kind]").count() == len(events)
    assert driver_page.watch.problems() == []


def duration(seconds: float) -> str:
    """As format.js `duration` (Math.round rounds halves up)."""
    s = math.floor(seconds + 0.5)
    if s < 60:
        return f"{s} s"
    minutes = math.floor(s / 60 + 0.5)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def hhmm(iso: str) -> str:
    """As the page shows a time: in the city's zone (the app's default), with its abbreviation."""
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(DEFAULT_TIMEZONE)).strftime("%H:%M %Z")


STOPS_ON_MAP_JS = """() => {
  const trace = document.getElementById("shift-map").data.find((t) => t.name === "Stops");
  return trace ? trace.x.map((x, i) => [x, trace.y[i]]) : [];
}"""


def test_hours_breaks_queues_and_stops_show_what_the_rollup_recorded(driver_page, pilot):
    """The crew record the rollup stored (shift_metrics.metrics and stop_points) is what the
    page shows: break total, each break, the longest stretch without one, each facility
    queue under "Delays that were not your doing", and every stop on the map."""
    rows = {
        s: pilot.sql("SELECT break_s, metrics::text, stop_points::text FROM shift_metrics WHERE shift_id = $1", s)[0]
        for s in pilot.own_shifts
    }
    records = {s: (r["break_s"], json.loads(r["metrics"]), json.loads(r["stop_points"])) for s, r in rows.items()}
    shift = next(
        (
            s
            for s, (_, m, _) in records.items()
            if m.get("breaks") and any(v["queue_s"] > 0 for v in m.get("facility_visits", []))
        ),
        None,
    )
    assert shift, "no shift of the driver's with a break and a facility queue: the pilot cannot test this"
    _, record, points = records[shift]
    names = {r["facility_id"]: r["name"] for r in pilot.sql("SELECT facility_id, name FROM facilities")}
    open_page(driver_page, f"driver.html?shift={shift}#breaks")  # the section opened by its address

    lengths = [
        (datetime.fromisoformat(b["ends_at"]) - datetime.fromisoformat(b["starts_at"])).total_seconds()
        for b in record["breaks"]
    ]
    # The total is the listed breaks' (the activity's break_s also counts seconds in a break-room fence).
    assert driver_page.inner_text("#hours-breaks") == duration(sum(lengths))
    assert driver_page.inner_text("#fig-breaks") == duration(sum(lengths))
    assert driver_page.inner_text("#hours-longest") == duration(record["longest_without_break_s"])
    hours = driver_page.inner_text("#hours")
    for b in record["breaks"]:
        length = (datetime.fromisoformat(b["ends_at"]) - datetime.fromisoformat(b["starts_at"])).total_seconds()
        line = f"Break {hhmm(b['starts_at'])}–{hhmm(b['ends_at'])} ({duration(length)})"
        assert line + (f" at {names[b['facility_id']]}" if b["facility_id"] else "") in hours, (line, hours)

    queued = [v for v in record["facility_visits"] if v["queue_s"] > 0]
    delays = driver_page.eval_on_selector_all("#delays li", "items => items.map((li) => li.innerText)")
    assert delays[: len(queued)] == [
        f"{duration(v['queue_s'])} queueing at {names[v['facility_id']]} (arrived {hhmm(v['arrived_at'])})"
        for v in queued
    ]

    assert driver_page.evaluate(STOPS_ON_MAP_JS) == [[p["lon"], p["lat"]] for p in points] and len(points) > 50
    assert horizontal_overflow(driver_page) <= 0, "the driver's page scrolls sideways on a 375 px screen"
    assert driver_page.watch.problems() == []
    screenshot(driver_page, "driver-driver-hours-breaks-queues-phone")


# Events at a street segment the rollup found significant for that kind over the fleet (the
# API marks them context.hotspot), and each event's street as the rollup matched it.
SHIFT_EVENTS = """
SELECT e.ts, e.kind, e.context->>'street' AS street, k.segment_id IS NOT NULL AS hot, k.place,
       k.first_day, k.last_day
FROM shift_events e
LEFT JOIN known_hotspots k ON k.segment_id = e.context->>'segment_id' AND k.kind = e.kind
WHERE e.shift_id = $1 AND e.kind <> 'reversing' ORDER BY e.ts"""


def _shift_with_most_hotspots(pilot):
    """The driver's shift with the most events at known hotspots (the data decides how many)."""
    counts = {s: pilot.sql(SHIFT_EVENTS, s) for s in pilot.own_shifts}
    shift = max(counts, key=lambda s: (sum(e["hot"] for e in counts[s]), len(counts[s])))
    assert counts[shift], "no safety moment on any of the driver's shifts: the pilot cannot test this"
    return shift, counts[shift]


def _event_items(page) -> list[str]:
    return page.eval_on_selector_all("#events li[data-kind]", "items => items.map((li) => li.innerText)")


def test_safety_moments_name_the_street_the_rollup_matched(driver_page, pilot):
    shift, events = _shift_with_most_hotspots(pilot)
    assert any(e["street"] for e in events), "the rollup named no event's street"
    open_page(driver_page, f"driver.html?shift={shift}#moments")
    items = _event_items(driver_page)
    assert len(items) == len(events)
    for item, event in zip(items, events):
        if event["street"]:
            assert f"— {event['street']} " in item.replace(",", " "), item


def test_safety_moments_at_known_hotspots_are_marked(driver_page, pilot):
    shift, events = _shift_with_most_hotspots(pilot)
    open_page(driver_page, f"driver.html?shift={shift}#moments")
    items = _event_items(driver_page)
    assert len(items) == len(events)
    for item, event in zip(items, events):
        assert ("Known hotspot" in item) == event["hot"], (item, event)
    hot = sum(e["hot"] for e in events)
    assert hot, "no event of the driver's at a known hotspot: the pilot cannot test this"
    assert driver_page.locator("#events .badge.hot").count() == hot
    assert driver_page.locator("#hazards li").count() == hot


def test_a_known_hotspot_is_named_as_the_data_officer_sees_it(driver_page, pilot):
    """The badge names the hotspot's place, and the data officer's segment hotspots over the
    known-hotspot window list a place of that very name."""
    shift, events = _shift_with_most_hotspots(pilot)
    hot = [e for e in events if e["hot"]]
    assert hot and all(e["place"] for e in hot), "known hotspots without a place name"
    open_page(driver_page, f"driver.html?shift={shift}#moments")
    badges = driver_page.eval_on_selector_all("#events .badge.hot", "els => els.map((e) => e.innerText)")
    assert badges == [f"Known hotspot: {e['place']}" for e in hot]
    for kind in {e["kind"] for e in hot}:
        window = next(e for e in hot if e["kind"] == kind)
        answer = httpx.get(
            f"{pilot.base}/api/v1/hotspots/segments",
            params={"from": str(window["first_day"]), "to": str(window["last_day"] + timedelta(days=1)), "kind": kind},
            headers={"Authorization": f"Bearer {pilot.tokens['data_officer']}"},
            timeout=60,
        ).json()
        names = {p["name"] for p in answer["places"]}
        assert {e["place"] for e in hot if e["kind"] == kind} <= names


def test_access_log_names_who_opened_my_shift_and_why(driver_page, pilot):
    open_page(driver_page, "driver.html#access")
    log = driver_page.inner_text("#access-table")
    assert pilot.users["supervisor"] in log
    assert pilot.purpose in log
    assert pilot.opened_shift in log
    screenshot(driver_page, "driver-access-log-phone")


def test_an_older_shift_is_one_click_away(driver_page, pilot):
    older = pilot.own_shifts[-1]
    open_page(driver_page, "driver.html")
    driver_page.select_option("#shift-select", older)
    driver_page.wait_for_url(f"**/driver.html?shift={older}")
    driver_page.wait_for_selector("body[data-ready='true']")
    metrics = pilot.sql("SELECT distance_m FROM shift_metrics WHERE shift_id = $1", older)[0]
    assert driver_page.inner_text("#fig-distance") == km(metrics["distance_m"])
    screenshot(driver_page, "driver-driver-older-shift-phone")


@pytest.mark.parametrize("which", ["first", "last"])
def test_editing_the_address_never_shows_another_persons_shift(driver_page, pilot, which):
    foreign = pilot.other_shifts[0 if which == "first" else -1]
    assert open_page(driver_page, f"driver.html?shift={foreign}") == "denied"
    text = driver_page.inner_text("main")
    assert "Not found, or not yours to see." in text
    vehicle = foreign.rsplit("-", 1)[0]
    assert foreign not in driver_page.input_value("#shift-select")
    assert driver_page.inner_text("#summary") == ""  # nothing of that shift was drawn
    # The only refused request is the foreign shift itself (404: its existence is not revealed).
    refused = list(driver_page.watch.bad_responses)
    assert refused and all(r.startswith("404") and foreign in r for r in refused), refused
    assert vehicle not in driver_page.inner_text("#summary")
    screenshot(driver_page, f"driver-foreign-shift-{which}-phone")


def test_download_all_my_data_gives_a_zip_of_my_own_shifts(driver_page, pilot, tmp_path):
    open_page(driver_page, "driver.html#data")
    with driver_page.expect_download() as waiting:
        driver_page.get_by_role("button", name="Download all my data").click()
    path = tmp_path / waiting.value.suggested_filename
    waiting.value.save_as(path)
    names = zipfile.ZipFile(path).namelist()
    assert names, "empty archive"
    content = b"".join(zipfile.ZipFile(path).read(n) for n in names)
    assert pilot.own_shifts[0].encode() in content
    assert pilot.other_person.encode() not in content
    assert not any(s.encode() in content for s in pilot.other_shifts)
    assert "Downloaded" in driver_page.inner_text("#download-status")
    # The download is in the person's own access log at once, as theirs ("you"), not as someone
    # else's read (the page reads the log again after a download).
    driver_page.wait_for_selector("#access-table >> text=export own data", state="attached")  # folded section
    table = driver_page.text_content("#access-table")  # the section may be folded: text, not rendering
    assert "your own downloads" in table
    rows = driver_page.eval_on_selector_all(
        "#access-table tbody tr", "trs => trs.map((tr) => [...tr.cells].map((c) => c.textContent.trim()))"
    )
    who = [r[1] for r in rows if "export own data" in r[2]]
    open_page(driver_page, "driver.html#access")
    screenshot(driver_page, "driver-access-after-download-phone")
    assert who and set(who) == {"you"}, table


# How the driver's map frames the planned route, the safety moments and the places the city
# fixed (none in the shared pilot unless a test left one): all of them inside the view, and filling it across its width or its height (equal scale leaves room the other way).
FRAMING_JS = """() => {
  const el = document.getElementById("shift-map");
  const [x0, x1] = el._fullLayout.xaxis.range;
  const [y0, y1] = el._fullLayout.yaxis.range;
  const points = el.data.filter((t) => ["Planned route", "Safety moments", "Fixed by the city"].includes(t.name))
    .flatMap((t) => t.x.map((x, i) => [x, t.y[i]])).filter(([x]) => x !== null);
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const [bx0, bx1, by0, by1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  return { inside: bx0 >= x0 && bx1 <= x1 && by0 >= y0 && by1 <= y1,
           fill: Math.max((bx1 - bx0) / (x1 - x0), (by1 - by0) / (y1 - y0)), points: points.length };
}"""
FRAMED = f"() => {{ const f = ({FRAMING_JS})(); return f.inside && f.fill >= 0.85; }}"


def test_the_map_frames_the_route_on_a_phone(driver_page):
    open_page(driver_page, "driver.html#map")
    framing = driver_page.evaluate(FRAMING_JS)
    assert framing["points"] > 10 and framing["inside"] and framing["fill"] >= 0.85, framing


def test_the_map_frames_the_route_again_when_a_desktop_window_narrows_to_a_phone(browser, pilot):
    context = signed_in_context(browser, pilot.base, pilot.tokens["driver"], DESKTOP)
    page = context.new_page()
    open_page(page, "driver.html#map")
    assert page.evaluate(FRAMED)
    page.set_viewport_size(PHONE)
    page.wait_for_function(
        "(width) => document.getElementById('shift-map')._fullLayout.width <= width", arg=PHONE["width"]
    )
    page.wait_for_function(FRAMED)
    screenshot(page, "driver-driver-after-resize-phone")
    context.close()


PLANNED_NOT_MISSED = """
SELECT rs.segment_id FROM shifts s
JOIN route_segments rs ON rs.route_id = s.route_id AND rs.version = s.route_version AND rs.service
JOIN shift_metrics m ON m.shift_id = s.shift_id
WHERE s.shift_id = $1 AND NOT rs.segment_id = ANY (m.missed_segments)
ORDER BY rs.seq LIMIT 3"""


DRIVEN_ON_MAP_JS = """() => {
  const trace = document.getElementById("shift-map").data.find((t) => t.name === "Route you drove");
  return trace ? trace.x.filter((x) => x !== null).length : 0;  // lines end with a null separator
}"""


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_the_route_driven_is_the_rollups_simplified_line(browser, pilot, size):
    """The map draws the line the rollup simplified (shift_tracks), every position within its
    tolerance, and says so; no raw fixes are read for it."""
    latest = pilot.own_shifts[0]
    (track,) = pilot.sql("SELECT points, tolerance_m, fixes FROM shift_tracks WHERE shift_id = $1", latest)
    assert 2 <= track["points"] < track["fixes"] / 20
    context = signed_in_context(browser, pilot.base, pilot.tokens["driver"], PHONE if size == "phone" else DESKTOP)
    page = context.new_page()
    page.watch = Watch().attach(page)
    open_page(page, "driver.html#map")
    assert page.evaluate(DRIVEN_ON_MAP_JS) == track["points"]
    note = page.inner_text("#map-note")
    assert f"simplified: every recorded position is within {track['tolerance_m']:g} m of the line" in note
    assert horizontal_overflow(page) <= 0 and page.watch.problems() == []
    screenshot(page, f"driver-simplified-route-{size}")
    context.close()


def test_streets_due_in_a_data_gap_show_as_unknown_not_missed(driver_page, browser, pilot, axe):
    """A shift whose unit sent nothing while three streets were due (set in its rollup as the
    rollup stores it): the crew sees them as "unknown — no data" on the map and in the list,
    apart from the missed ones; the supervisor's coverage page counts them apart too."""
    shift = pilot.own_shifts[0]
    unknown = [r["segment_id"] for r in pilot.sql(PLANNED_NOT_MISSED, shift)]
    assert len(unknown) == 3
    pilot.sql("UPDATE shift_metrics SET no_data_segments = $2 WHERE shift_id = $1", shift, unknown)
    try:
        open_page(driver_page, f"driver.html?shift={shift}#breaks")
        grey = driver_page.evaluate(
            """() => document.getElementById("shift-map").data.find((t) => t.name === "Unknown — no data")"""
        )
        assert grey and sum(x is None for x in grey["x"]) == 3  # three lines, None-separated
        delays = driver_page.inner_text("#delays")
        assert "3 planned street segment(s) are unknown — no data" in delays
        assert "not counted as missed" in delays
        driver_page.locator("#map > summary").click()  # a second section, opened by hand
        assert "grey dashes: unknown" in driver_page.inner_text("#map-note")
        assert horizontal_overflow(driver_page) <= 0
        assert axe.check(driver_page, "driver-no-data") == []
        assert driver_page.watch.problems() == []
        screenshot(driver_page, "driver-no-data-phone")

        context = signed_in_context(browser, pilot.base, pilot.tokens["supervisor"], DESKTOP)
        page = context.new_page()
        try:
            route = pilot.sql("SELECT route_id FROM shifts WHERE shift_id = $1", shift)[0]["route_id"]
            day = pilot.start + timedelta(days=pilot.days - 1)
            open_page(page, f"coverage.html?route={route}&from={pilot.start.isoformat()}&to={day.isoformat()}")
            assert "3 planned segment(s) had shifts with no position data" in page.inner_text("#no-data-note")
            assert "No data on" in page.text_content("#missed-table thead")
            rows = page.eval_on_selector_all(
                "#missed-table tbody tr", "rows => rows.map((r) => r.cells[0].textContent.trim())"
            )
            assert set(unknown) <= set(rows)
            screenshot(page, "supervisor-coverage-no-data-desktop")
        finally:
            context.close()
    finally:
        pilot.sql("UPDATE shift_metrics SET no_data_segments = '{}' WHERE shift_id = $1", shift)


# The page at 375 px with every section folded: the summary (~900 px: header, title, the shift,
# plan and access lines, the shift's eight figures) and ten one-line section rows (~100 px each
# where the heading wraps) measured 1,944 px; unfolded it was 6,638 px. 2,300 px leaves room for
# a changed plan's reason and named streets in the summary, not for any section's content (the
# shortest, the download, is ~150 px; a map 400 px).
PHONE_HEIGHT_MAX_PX = 2_300
SECTIONS = ["plan", "report", "moments", "breaks", "map", "causes", "trend", "complaints", "access", "data"]
PAGE_HEIGHT_JS = "() => document.documentElement.scrollHeight"


def _below_fold(page, selector: str) -> float:
    box = page.locator(selector).bounding_box()
    assert box and box["height"] > 0, f"{selector} is not drawn"
    return box["y"] + box["height"] - PHONE["height"]


def test_the_phone_opens_on_a_summary_and_every_section_a_tap_or_a_link_away(driver_page, pilot, axe):
    """On a 375 px phone the driver sees their shift, hours and breaks, their route's plan and
    who looked at their data without scrolling; everything else is a section they open, by a
    tap, by the keyboard, or by a link naming it (driver.html#trend), and the address keeps it."""
    assert open_page(driver_page, "driver.html") == "true"
    sections = driver_page.eval_on_selector_all("details[data-section]", "ds => ds.map((d) => [d.id, d.open])")
    assert [s for s, _ in sections] == SECTIONS
    mine = {"Authorization": f"Bearer {pilot.tokens['driver']}"}
    plan = httpx.get(f"{pilot.base}/api/v1/me/plan", headers=mine, timeout=60).json()
    log = httpx.get(f"{pilot.base}/api/v1/me/access-log", headers=mine, timeout=60).json()["entries"]
    latest = next(a for a in log if a["actor"] != pilot.users["driver"])  # not the driver's own downloads
    changed = plan["compared_with"] is not None
    # Only a plan changed since the driver last drove opens by itself (another test may have changed it).
    assert dict(sections) == {s: s == "plan" and changed for s in SECTIONS}
    assert ("new since you last drove" in driver_page.inner_text("#glance-plan")) == changed
    for selector in ("#glance-shift", "#glance-plan", "#glance-access"):
        assert _below_fold(driver_page, selector) <= 0, f"{selector} is below the fold"
    glance = driver_page.inner_text("#glance-shift")
    assert "on duty" in glance and "breaks" in glance
    assert f"version {plan['version']}" in driver_page.inner_text("#glance-plan")
    access = driver_page.inner_text("#glance-access")  # who looked, and why, on arrival
    assert latest["actor"] in access and latest["purpose"] in access, (latest, access)
    if changed:
        driver_page.locator("#plan > summary").click()
    assert driver_page.evaluate(PAGE_HEIGHT_JS) <= PHONE_HEIGHT_MAX_PX, "the phone page grew back"
    assert driver_page.url.endswith("driver.html")  # the page's own opening is not put in the address
    assert horizontal_overflow(driver_page) <= 0
    assert axe.check(driver_page, "driver-sections-folded-phone") == []
    screenshot(driver_page, "driver-sections-folded-phone")

    # A link opens its section, in view.
    driver_page.goto(f"/app/driver.html?shift={pilot.own_shifts[0]}#moments")  # a new load, not a jump
    driver_page.wait_for_selector("body[data-ready]")
    assert driver_page.evaluate("() => document.getElementById('moments').open")
    box = driver_page.locator("#moments > summary").bounding_box()
    assert 0 <= box["y"] < PHONE["height"]
    count = driver_page.locator("#events li[data-kind]").count()
    assert driver_page.inner_text("#moments-count").startswith(str(count))
    # By keyboard: Enter on a section's summary opens it, the address names it, its chart fits.
    summary = driver_page.locator("#trend > summary")
    summary.focus()
    driver_page.keyboard.press("Enter")
    driver_page.wait_for_function("() => location.hash === '#trend'")
    driver_page.wait_for_function(
        "(w) => document.getElementById('trend-chart')._fullLayout.width <= w", arg=PHONE["width"]
    )
    assert driver_page.locator("#trend-chart svg").first.is_visible()
    driver_page.keyboard.press("Enter")  # and closes it again; the address forgets it
    driver_page.wait_for_function("() => location.hash === ''")
    assert not driver_page.locator("#trend-chart").is_visible()
    assert axe.check(driver_page, "driver-section-open-phone") == []
    assert driver_page.watch.problems() == []
