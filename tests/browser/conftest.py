"""Fixtures of the browser tests: one pilot database filled from a simulator run, the real API
serving the dashboards on loopback, and Debian's headless Chromium driven by Playwright.

The database and server are built once per session (filling takes a few seconds); the tests
only read, except the route-plan test, which writes new route versions that no other test reads.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import asyncpg
import httpx
import pytest
from browser.harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    ApiServer,
    AxeFindings,
    Timings,
    Watch,
    run_async,
    signed_in_context,
)
from browser.pilot import PASSWORD, Pilot, add_live_shift, add_users, load
from playwright.sync_api import sync_playwright
from support import with_database

from fleetpilot.db.schema import prepare
from fleetpilot.settings import Settings

pytestmark = pytest.mark.browser

# Two whole ISO weeks ending last Sunday: every route-week then has 7 shifts (k = 5 shifts, 3 people).
# Short shifts keep the load small; 1 Hz as the units really report.
VEHICLES, DAYS, HOURS, SEED = 4, 14, 4.0, 7
PURPOSE = "incident 2026-0113: resident reported a damaged bin"


def _people(roster: dict) -> tuple[str, str]:
    """The person with the most shifts, and one who never shared a shift with them."""
    counts = Counter(p for s in roster["shifts"] for p in s["crew"])
    person = counts.most_common(1)[0][0]
    colleagues = {p for s in roster["shifts"] if person in s["crew"] for p in s["crew"]}
    other = next(p for p, _ in counts.most_common() if p not in colleagues)
    return person, other


async def build_pilot(url: str, settings: Settings, streets: str | None = None) -> Pilot:
    """The pilot on the synthetic city, or on a real street layer (`streets`, fleetsim --streets)."""
    from fleetsim.offline import generate_fleet

    today = datetime.now(timezone.utc).date()
    start = today - timedelta(days=today.weekday() + DAYS)
    fleet = generate_fleet(
        n_vehicles=VEHICLES, days=DAYS, seed=SEED, hours=HOURS, start=f"{start}T06:00:00Z", streets=streets
    )
    person, other = _people(fleet.roster)
    conn = await asyncpg.connect(url)
    try:
        await prepare(conn, settings)
    finally:
        await conn.close()
    await load(url, fleet)
    conn = await asyncpg.connect(url)
    try:
        users = await add_users(conn, person, other)
        live = fleet.roster["shifts"][0]
        await add_live_shift(conn, live["vehicle_id"], live["route_id"], [person], datetime.now(timezone.utc))
        own = [
            r["shift_id"]
            for r in await conn.fetch(
                "SELECT s.shift_id FROM shifts s JOIN shift_crew c USING (shift_id) "
                "WHERE c.person_id = $1 AND s.ends_at < now() ORDER BY s.starts_at DESC",
                person,
            )
        ]
        others = [
            r["shift_id"]
            for r in await conn.fetch(
                "SELECT shift_id FROM shifts WHERE shift_id NOT IN (SELECT shift_id FROM shift_crew WHERE person_id = $1) "
                "ORDER BY shift_id",
                person,
            )
        ]
    finally:
        await conn.close()
    return Pilot(
        url=url,
        start=start,
        days=DAYS,
        users=users,
        person=person,
        other_person=other,
        own_shifts=own,
        other_shifts=others,
        live_vehicle=live["vehicle_id"],
    )


async def _create(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pilot_settings(pg_admin_url, mqtt_url, data_dir):
    name = f"fpt_browser_{uuid.uuid4().hex[:8]}"
    run_async(_create(pg_admin_url, name))
    settings = Settings(
        database_url=with_database(pg_admin_url, name),
        mqtt_url=mqtt_url,
        data_dir=data_dir,
        jwt_secret="browser-" + uuid.uuid4().hex,
        _env_file=None,
    )
    yield settings
    run_async(_drop(pg_admin_url, name))


@pytest.fixture(scope="session")
def pilot(pilot_settings):
    """The filled pilot with the API serving it; tokens per role; one audited individual access."""
    from fleetpilot.api.app import create_app

    built = run_async(build_pilot(pilot_settings.database_url, pilot_settings))
    with ApiServer(create_app(pilot_settings)) as server:
        with httpx.Client(base_url=server.base, timeout=30) as client:
            for role, username in built.users.items():
                answer = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
                answer.raise_for_status()
                built.tokens[role] = answer.json()["access_token"]
            # A supervisor opens one of the driver's shifts for a stated purpose (audited).
            built.opened_shift, built.purpose = built.own_shifts[1], PURPOSE
            client.post(
                f"/api/v1/shifts/{built.opened_shift}/open",
                json={"purpose": PURPOSE},
                headers={"Authorization": f"Bearer {built.tokens['supervisor']}"},
            ).raise_for_status()
            built.openapi_paths = list(client.get("/openapi.json").json()["paths"])
        built.base = server.base
        yield built


@pytest.fixture(scope="module")
def browser():
    # Module scope: Playwright's sync API keeps an event loop running in the main thread
    # while it lives, and asyncio.run() in later test modules would then fail.
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def supervisor(browser, pilot):
    """A supervisor's page on the desktop, its console errors and failed requests watched."""
    context = signed_in_context(browser, pilot.base, pilot.tokens["supervisor"], DESKTOP)
    page = context.new_page()
    page.watch = Watch().attach(page)
    yield page
    context.close()


@pytest.fixture(scope="session")
def timings(pilot):
    collected = Timings(
        {
            "vehicles": VEHICLES,
            "days": DAYS,
            "shift_hours": HOURS,
            "seed": SEED,
            "first_day": date.isoformat(pilot.start),
        }
    )
    yield collected
    collected.write()


@pytest.fixture(scope="session")
def axe():
    """axe-core on every page; its findings go to test-artifacts/axe.json at the end."""
    findings = AxeFindings()
    yield findings
    findings.write()
