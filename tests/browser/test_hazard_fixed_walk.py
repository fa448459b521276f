"""Issue 18's walk: one hazard from a crew's tap in the cab to "fixed", in a simulated world where
the fix really changed driving, and the before/after the crew then sees checked against the
simulator's truth.

The world: 4 trucks on 10-hour shifts over five whole city weeks ending last Sunday. The
simulator retires one dangerous intersection on the Wednesday of the third week
(`HazardFix`, fleetsim's --fix-hazard): before it trucks brake hard on 45 % of their passes
there, from that day on at the background rate of any intersection. The run goes in as the
project loads one (simload + the real rollup job), the real API serves the pages, and Chromium:

1. a crew member at the intersection (phone, 375 px) taps "Dangerous intersection";
2. a supervisor (desktop) moves it to acknowledged, fix planned and fixed (what and the day
   the simulator fixed it), by keyboard;
3. the crew member's page then shows it fixed, with the before/after, in their reports, in the
   city's fixed list and as a star at the place on their map.

The figure is asserted against the truth: the simulator's own hard brakes at the intersection
fell to none, the API's fall is real (its 95 % interval excludes 0), and its counts hold the
truth's brakes there. Run with -s to see the figures.
"""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import numpy as np
import pytest
from browser.conftest import _create, _drop
from browser.harness import (
    DESKTOP,
    PHONE,
    ApiServer,
    Watch,
    horizontal_overflow,
    open_page,
    run_async,
    screenshot,
    signed_in_context,
)
from browser.pilot import PASSWORD, add_users, load
from support import with_database

from fleetpilot.db.schema import prepare
from fleetpilot.localtime import DEFAULT_TIMEZONE
from fleetpilot.settings import Settings

pytestmark = pytest.mark.browser

VEHICLES, WEEKS, HOURS, SEED = 4, 5, 10.0, 3
SHOTS = Path("/work/shots/fixed")  # kept for the session's note when that folder exists
NEAR_M = 40.0  # a truth brake this close to the intersection is "there"


def _metres(lon, lat, lon0, lat0):
    k = 111_195.0
    return np.hypot((np.asarray(lon) - lon0) * k * np.cos(np.radians(lat0)), (np.asarray(lat) - lat0) * k)


@pytest.fixture(scope="module")
def world(pg_admin_url, mqtt_url, data_dir):
    from fleetpilot.api.app import create_app
    from fleetsim.config import HazardFix, SimConfig
    from fleetsim.offline import generate_fleet
    from fleetsim.scenario import build_scenario

    name = f"fpt_walk_{uuid.uuid4().hex[:8]}"
    run_async(_create(pg_admin_url, name))
    settings = Settings(
        database_url=with_database(pg_admin_url, name),
        mqtt_url=mqtt_url,
        data_dir=data_dir,
        jwt_secret="walk-" + uuid.uuid4().hex,
        _env_file=None,
    )
    try:
        zone = ZoneInfo(DEFAULT_TIMEZONE)
        today = datetime.now(zone).date()
        first = today - timedelta(days=today.weekday(), weeks=WEEKS)  # Monday, five whole weeks ago
        fix_day = first + timedelta(weeks=2, days=2)  # the third week's Wednesday
        start = datetime(first.year, first.month, first.day, 6, tzinfo=zone).isoformat()
        plain = build_scenario(SimConfig(seed=SEED, n_vehicles=VEHICLES, hours=HOURS))
        corner = plain.dangerous_json()[0]
        fleet = generate_fleet(
            n_vehicles=VEHICLES,
            days=WEEKS * 7,
            seed=SEED,
            hours=HOURS,
            start=start,
            timezone=DEFAULT_TIMEZONE,
            hazard_fixes=(HazardFix(corner["lon"], corner["lat"], fix_day.isoformat()),),
        )

        async def fill() -> dict[str, str]:
            conn = await asyncpg.connect(settings.database_url)
            try:
                await prepare(conn, settings)
            finally:
                await conn.close()
            await load(settings.database_url, fleet)
            conn = await asyncpg.connect(settings.database_url)
            try:
                crew = [p for s in fleet.roster["shifts"] for p in s["crew"]]
                return await add_users(conn, crew[0], crew[-1])
            finally:
                await conn.close()

        users = run_async(fill())
        with ApiServer(create_app(settings)) as server:
            tokens = {}
            with httpx.Client(base_url=server.base, timeout=60) as client:
                for role, username in users.items():
                    answer = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
                    answer.raise_for_status()
                    tokens[role] = answer.json()["access_token"]
            yield {
                "base": server.base,
                "tokens": tokens,
                "truth": fleet.truth,
                "corner": corner,
                "fix_day": fix_day,
                "first": first,
                "zone": zone,
            }
    finally:
        run_async(_drop(pg_admin_url, name))


def _truth_brakes(world, lo: date, hi: date) -> tuple[int, int]:
    """(hard brakes within NEAR_M of the corner, of them flagged at a dangerous intersection) on
    shifts whose local start day is in [lo, hi)."""
    corner, zone = world["corner"], world["zone"]
    near = dangerous = 0
    for shift in world["truth"]["shifts"]:
        day = datetime.fromtimestamp(shift["start"] / 1000, zone).date()
        if not lo <= day < hi:
            continue
        for h in shift["harsh_events"]:
            if h["kind"] == "harsh_brake" and _metres(h["lon"], h["lat"], corner["lon"], corner["lat"]) < NEAR_M:
                near += 1
                dangerous += h["at_dangerous_intersection"]
    return near, dangerous


def _shot(page, name: str) -> None:
    path = screenshot(page, name)
    if SHOTS.parent.is_dir():
        SHOTS.mkdir(exist_ok=True)
        shutil.copy(path, SHOTS / path.name)


def test_a_hazard_walks_from_a_crew_tap_to_fixed_and_the_fall_is_real(browser, world, axe):
    corner, fix_day = world["corner"], world["fix_day"]
    crew_context = signed_in_context(browser, world["base"], world["tokens"]["driver"], PHONE)
    crew_context.grant_permissions(["geolocation"])
    crew_context.set_geolocation({"longitude": corner["lon"], "latitude": corner["lat"], "accuracy": 5})
    crew = crew_context.new_page()
    crew.watch = Watch().attach(crew)
    boss_context = signed_in_context(browser, world["base"], world["tokens"]["supervisor"], DESKTOP)
    boss = boss_context.new_page()
    try:
        # 1. The crew member taps "Dangerous intersection" where the phone is.
        assert open_page(crew, "driver.html#report") == "true"
        assert "The city has not marked a hazard fixed yet." in crew.inner_text("#fixed-hazards")
        crew.click("button[data-category='dangerous_intersection']")
        crew.wait_for_selector("#my-reports li[data-status='reported']", timeout=15_000)

        # 2. The supervisor moves it along, by keyboard, to fixed on the simulator's day.
        open_page(boss, "hazards.html")
        hazard = boss.get_attribute("form.hazard-status", "data-hazard")
        for status in ("acknowledged", "fix_planned", "fixed"):
            boss.select_option(f"#st-{hazard}", status)
            if status == "fixed":
                boss.fill(f"#what-{hazard}", "the signal retimed")
                boss.fill(f"#on-{hazard}", fix_day.isoformat())
            boss.focus(f"form[data-hazard='{hazard}'] button")
            with boss.expect_navigation():
                boss.keyboard.press("Enter")
            boss.wait_for_selector("body[data-ready]")
        row = boss.inner_text("#hazards-table")
        assert f"Fixed on {fix_day}: the signal retimed" in row
        assert "Hard braking here fell" in row
        assert axe.check(boss, "supervisor-hazard-before-after") == []
        _shot(boss, "walk-supervisor-hazard-fixed-desktop")

        # The figure, from the API, against the simulator's truth.
        with httpx.Client(base_url=world["base"], timeout=60) as client:
            headers = {"Authorization": f"Bearer {world['tokens']['driver']}"}
            (fixed,) = client.get("/api/v1/hazards/fixed", headers=headers).json()["hazards"]
        effect = fixed["effect"]
        before = _truth_brakes(
            world, date.fromisoformat(effect["before_from"]), date.fromisoformat(effect["before_to"])
        )
        after = _truth_brakes(world, date.fromisoformat(effect["after_from"]), date.fromisoformat(effect["after_to"]))
        print(
            "\nhazard walk:",
            json.dumps(
                {
                    "corner": corner,
                    "fixed_on": str(fix_day),
                    "effect": effect,
                    "truth_brakes_near_before": before[0],
                    "truth_brakes_near_after": after[0],
                    "truth_at_dangerous_after": after[1],
                }
            ),
        )
        assert before[1] >= 20 and after[1] == 0  # the simulated world: the corner stopped being dangerous
        assert effect["enough"], effect["sentence"]
        assert effect["change"] < -0.5 and effect["hi"] < 0  # the fall is real: the interval excludes 0
        assert effect["events_before"] >= 0.9 * before[0]  # the truth's brakes there are counted
        assert effect["events_after"] <= after[0] + 5  # the background of the place's other streets
        assert effect["sentence"].startswith(
            f"Hard braking here fell {-effect['change'] * 100:.0f} % since the city fixed what crews reported "
            f"(the signal retimed, {fix_day}); 95 % interval: fell "
        )

        # 3. The crew member sees it fixed, with the figure, on the page and at the place on the map.
        crew.reload()
        crew.wait_for_selector("#my-reports li[data-status='fixed']")
        assert effect["sentence"] in crew.inner_text("#my-reports")
        listed = crew.inner_text("#fixed-hazards")
        assert f"Fixed on {fix_day}: the signal retimed" in listed and effect["sentence"] in listed
        mark = crew.evaluate(
            "(() => { const el = document.getElementById('shift-map');"
            " const t = el.data.find((t) => t.name === 'Fixed by the city');"
            " return t && [t.x, t.y, t.text, el._fullLayout.xaxis.range, el._fullLayout.yaxis.range]; })()"
        )
        assert mark is not None, "no fixed hazard on the crew's map"
        (lon,), (lat,), (hover,), x_range, y_range = mark
        assert (lon, lat) == (fixed["lon"], fixed["lat"]) and effect["sentence"] in hover
        assert x_range[0] < lon < x_range[1] and y_range[0] < lat < y_range[1], "the fixed place is off the map's view"
        assert horizontal_overflow(crew) <= 0
        assert axe.check(crew, "driver-hazard-before-after") == []
        assert crew.watch.problems() == []
        crew.locator("#report-card").screenshot(path=str(screenshot(crew, "walk-driver-hazard-fixed-phone")))
        if SHOTS.parent.is_dir():
            SHOTS.mkdir(exist_ok=True)
            shutil.copy(screenshot(crew, "walk-driver-page-fixed-phone"), SHOTS / "walk-driver-page-fixed-phone.png")
            crew.locator("#report-card").screenshot(path=str(SHOTS / "walk-driver-hazard-fixed-phone.png"))
    finally:
        crew_context.close()
        boss_context.close()
