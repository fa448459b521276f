"""A pilot database for the browser tests, filled from a simulator run.

The run goes in as the project loads one (`fleetpilot.simload.load_run`: the importer for
city, plans and roster; on-duty, non-private fixes and events as the ingest stores them),
then the real rollup job computes every shift's rollups. On top: one user per role, a
shift on duty right now with a fresh position (for the live map), and — done by the
fixture through the API — a supervisor opening one of the driver's shifts with a purpose.

Sizes are kept small (4 trucks × two weeks of 4-hour shifts at 1 Hz, ~0.8 M fixes) so the suite stays
quick;
`fleetpilot_bench.pages` does the month of 50 trucks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import asyncpg
from browser.harness import run_async

from fleetpilot.api.users import create_user
from fleetpilot.db.maintenance import ensure_partitions
from fleetpilot.rollup.job import run_rollup
from fleetpilot.simload import load_run

PASSWORD = "browser-test-password"


@dataclass
class Pilot:
    """What the tests need to know about the loaded pilot."""

    url: str
    start: date  # first simulated day
    days: int
    users: dict[str, str]  # role (and "other_driver") -> username
    person: str  # the signed-in driver's person id
    other_person: str  # a crew member the driver must never see
    own_shifts: list[str]  # the driver's shift ids, newest first
    other_shifts: list[str]  # shifts the driver did not crew
    live_vehicle: str  # on duty now
    opened_shift: str = ""  # the driver's shift a supervisor opened with a purpose
    purpose: str = ""
    base: str = ""  # the API's address
    openapi_paths: list[str] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)

    def sql(self, query: str, *args) -> list:
        """Rows from the pilot database (what the pages must show)."""

        async def fetch():
            conn = await asyncpg.connect(self.url)
            try:
                return await conn.fetch(query, *args)
            finally:
                await conn.close()

        return run_async(fetch())


async def load(url: str, run) -> None:
    """Load the run and compute its rollups with the project's own loader and rollup job.

    The rollup gets a connection of its own: the importer registers a jsonb codec on the
    loader's connection, under which the job's pre-serialised JSON would be stored as a
    JSON string rather than an object.
    """
    conn = await asyncpg.connect(url)
    try:
        await load_run(conn, run)
    finally:
        await conn.close()
    conn = await asyncpg.connect(url)
    try:
        await run_rollup(conn)
    finally:
        await conn.close()


async def add_live_shift(
    conn: asyncpg.Connection, vehicle_id: str, route_id: str, crew: list[str], now: datetime
) -> str:
    """A shift on duty right now with a position half a minute old (for the live map)."""
    shift_id = f"{vehicle_id}-live"
    await conn.execute(
        "INSERT INTO shifts (shift_id, vehicle_id, route_id, route_version, starts_at, ends_at) "
        "VALUES ($1, $2, $3, 1, $4, $5)",
        shift_id,
        vehicle_id,
        route_id,
        now - timedelta(hours=2),
        now + timedelta(hours=6),
    )
    await conn.executemany(
        "INSERT INTO shift_crew (shift_id, person_id) VALUES ($1, $2)", [(shift_id, p) for p in crew]
    )
    lon, lat = await conn.fetchrow(
        "SELECT lon, lat FROM route_stops WHERE route_id = $1 ORDER BY seq LIMIT 1", route_id
    )
    await ensure_partitions(conn, now.date(), now.date())
    await conn.execute(
        "INSERT INTO fixes (vehicle_id, ts, lon, lat, speed_mps, heading_deg, hdop) "
        "VALUES ($1, $2, $3, $4, 4.2, 90, 0.9)",
        vehicle_id,
        now - timedelta(seconds=30),
        lon,
        lat,
    )
    return shift_id


async def add_users(conn: asyncpg.Connection, person: str, other_person: str) -> dict[str, str]:
    users = {
        "driver": "driver-ana",
        "other_driver": "driver-ben",
        "supervisor": "supervisor-sam",
        "data_officer": "officer-dee",
        "admin": "admin-ada",
    }
    for role, name in users.items():
        person_id = {"driver": person, "other_driver": other_person}.get(role)
        await create_user(conn, name, PASSWORD, "driver" if person_id else role, person_id)
    return users
