"""Fixtures of the API tests: a small seeded world, the app on it, and tokens per role.

The world (see `seed_world`) is built so that privacy rules are observable:
- route r-north, week 1: 6 shifts by 3 people  -> an aggregate group that may be shown;
- route r-north, week 2: 6 shifts by 1 person   -> suppressed (fewer than k=3 people);
- route r-north, week 3: 3 shifts by 3 people  -> suppressed (fewer than k=5 shifts);
- route r-south: 2 shifts of one person (dan)   -> always suppressed;
- one shift on duty right now (truck-3) with recent fixes; truck-2 has recent fixes
  but no shift (off duty), so it must never appear live.
Every id of another person's data carries the marker "zz" so a leak is easy to spot.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time as clock
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

import asyncpg
import pytest
import uvicorn
from support import TestServers, run, seal_template, with_database

from fleetpilot.api.auth.passwords import hash_password
from fleetpilot.api.auth.tokens import TokenKeys, issue_access_token
from fleetpilot.db.schema import prepare
from fleetpilot.settings import Settings

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
from fastapi.testclient import TestClient  # noqa: E402  (after the warning filter)

from fleetpilot.api.app import create_app  # noqa: E402

PASSWORD = "correct horse battery staple"
SERVERS = TestServers()
ROLES = ("driver", "supervisor", "data_officer", "admin")
ROUTE_GEOMETRY = {
    "seg-a": [[13.400, 52.500], [13.410, 52.500]],
    "seg-b": [[13.410, 52.500], [13.410, 52.510]],
    "seg-c": [[13.410, 52.510], [13.400, 52.510]],
}


@dataclass
class World:
    """Ids and facts of the seeded world that tests assert against."""

    week1: date  # Monday of the first week
    users: dict[str, int] = field(default_factory=dict)  # username -> user_id
    shifts: dict[str, list[str]] = field(default_factory=dict)  # person -> shift ids
    shift_window: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    live_shift: str = "live-zz-truck3"
    track_shift: str = ""  # ana's shift with raw fixes

    @property
    def ana_shifts(self) -> set[str]:
        return set(self.shifts["p-ana"])

    @property
    def others_shifts(self) -> set[str]:
        return {s for person, ids in self.shifts.items() if person != "p-ana" for s in ids} - self.ana_shifts


@pytest.fixture(scope="session")
def password() -> str:
    """The password of every seeded user."""
    return PASSWORD


@pytest.fixture(scope="session")
def password_hash() -> str:
    """One Argon2id hash of PASSWORD, computed once: seeding users need not pay for it again."""
    return run(hash_password(PASSWORD))


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


async def seed_world(conn: asyncpg.Connection, password_hash: str, today: date) -> World:
    """Everything but the live part (see seed_live), so a template copy can be reused all session."""
    week1 = _monday(today) - timedelta(weeks=4)
    world = World(week1=week1)
    await conn.execute(
        "INSERT INTO vehicles (vehicle_id, city) VALUES ('truck-1', 'metro'), ('truck-2', 'metro'), "
        "('truck-3', 'metro')"
    )
    await conn.execute("INSERT INTO devices (device_id, vehicle_id) VALUES ('dev-1', 'truck-1'), ('dev-2', 'truck-2')")
    for person, name in (
        ("p-ana", "Ana Alves"),
        ("p-zz-ben", "Ben Brook"),
        ("p-zz-cai", "Cai Chen"),
        ("p-zz-dan", "Dan Dorn"),
        ("p-zz-eve", "Eve Earl"),
    ):
        await conn.execute("INSERT INTO people (person_id) VALUES ($1)", person)
        await conn.execute("INSERT INTO identity.person_names (person_id, full_name) VALUES ($1, $2)", person, name)
    for route in ("r-north", "r-south"):
        await conn.execute("INSERT INTO routes (route_id, name, current_version) VALUES ($1, $1, 1)", route)
        await conn.execute("INSERT INTO route_versions (route_id, version, created_by) VALUES ($1, 1, 'seed')", route)
        for seq, (segment, line) in enumerate(ROUTE_GEOMETRY.items(), start=1):
            await conn.execute(
                "INSERT INTO route_segments (route_id, version, seq, segment_id, service, speed_limit_kmh, geometry) "
                "VALUES ($1, 1, $2, $3, true, 30, $4::jsonb)",
                route,
                seq,
                segment,
                f'{{"type": "LineString", "coordinates": {line}}}',
            )

    plan = []  # (route, vehicle, day, crew)
    people3 = ["p-ana", "p-zz-ben", "p-zz-cai"]
    for i in range(6):  # week 1: 3 people
        plan.append(("r-north", "truck-1", week1 + timedelta(days=i), [people3[i % 3]]))
    for i in range(6):  # week 2: ana alone
        plan.append(("r-north", "truck-1", week1 + timedelta(weeks=1, days=i), ["p-ana"]))
    for i in range(3):  # week 3: 3 shifts
        plan.append(("r-north", "truck-1", week1 + timedelta(weeks=2, days=i), [people3[i]]))
    for i in range(2):
        plan.append(("r-south", "truck-2", week1 + timedelta(days=i), ["p-zz-dan", "p-zz-eve"]))

    for n, (route, vehicle, day, crew) in enumerate(plan):
        owner = "ana" if crew == ["p-ana"] else "zz"
        shift_id = f"{day.isoformat()}-{vehicle}-{owner}-{n}"
        starts = datetime.combine(day, time(6), tzinfo=timezone.utc)
        ends = starts + timedelta(hours=8)
        await conn.execute("INSERT INTO shifts VALUES ($1, $2, $3, 1, $4, $5)", shift_id, vehicle, route, starts, ends)
        for person in crew:
            await conn.execute("INSERT INTO shift_crew (shift_id, person_id) VALUES ($1, $2)", shift_id, person)
            world.shifts.setdefault(person, []).append(shift_id)
        world.shift_window[shift_id] = (starts, ends)
        await conn.execute(
            "INSERT INTO shift_metrics (shift_id, vehicle_id, route_id, day, fixes, distance_m, on_route_m, deadhead_m,"
            " collection_s, deadhead_s, facility_s, break_s, idle_s, stops, dwell_mean_s, turnaround_s, coverage,"
            " missed_segments, metrics) VALUES ($1, $2, $3, $4, 28800, $5, $6, 9000, 18000, 3600, 2400, 1800, 900, 120,"
            " 25, 1500, $7, $8, '{\"fuel_l\": 40}')",
            shift_id,
            vehicle,
            route,
            day,
            60_000.0 + n * 100,
            50_000.0,
            0.9 if n % 2 else 0.8,
            ["seg-c"] if n % 2 else [],
        )
        await conn.execute(
            "INSERT INTO shift_events (shift_id, ts, kind, source, lon, lat, magnitude, speed_before, speed_after,"
            " context) VALUES ($1, $2, 'harsh_brake', 'device', 13.405, 52.5, 3.4, 8.0, 1.0,"
            ' \'{"segment_id": "seg-a", "speed_limit_kmh": 30}\')',
            shift_id,
            starts + timedelta(hours=2),
        )
        # Cell 1 is passed on every shift; cell 2 only by r-south (2 shifts) -> suppressed.
        await conn.execute(
            "INSERT INTO cell_exposure (cell_id, day, shift_id, passes, harsh_brake, speeding) "
            "VALUES (1, $1, $2, 10, 1, 2)",
            day,
            shift_id,
        )
        await conn.execute(
            "INSERT INTO segment_exposure (segment_id, day, shift_id, passes, harsh_brake, speeding, "
            "mean_speed_mps) VALUES ('seg-a', $1, $2, 4, 1, 0, 7.5)",
            day,
            shift_id,
        )
        if route == "r-south":
            await conn.execute(
                "INSERT INTO cell_exposure (cell_id, day, shift_id, passes, harsh_brake) VALUES (2, $1, $2, 3, 2)",
                day,
                shift_id,
            )

    # Raw fixes for one of ana's shifts (10 minutes at 1 Hz) and one of ben's.
    world.shifts["p-zz-ben"].append(world.live_shift)
    world.track_shift = world.shifts["p-ana"][0]
    for shift_id, lat0 in ((world.track_shift, 52.50), (world.shifts["p-zz-ben"][0], 52.60)):
        starts = world.shift_window[shift_id][0]
        vehicle = "truck-1"
        await conn.executemany(
            "INSERT INTO fixes (vehicle_id, ts, lon, lat, speed_mps, heading_deg, hdop) VALUES ($1, $2, $3, $4, 5, 90, 1)",
            [(vehicle, starts + timedelta(seconds=s), 13.40 + s * 1e-5, lat0) for s in range(600)],
        )

    for username, role, person in (
        ("ana", "driver", "p-ana"),
        ("ben", "driver", "p-zz-ben"),
        ("sam", "supervisor", None),
        ("dora", "data_officer", None),
        ("adam", "admin", None),
    ):
        world.users[username] = await conn.fetchval(
            "INSERT INTO users (username, password_hash, role, person_id) VALUES ($1, $2, $3, $4) RETURNING user_id",
            username,
            password_hash,
            role,
            person,
        )
    return world


async def seed_live(conn: asyncpg.Connection, world: World, now: datetime) -> None:
    """The shift on duty right now (truck-3, with a fix a minute ago); truck-2 is off duty but has a fix."""
    await conn.execute(
        "INSERT INTO shifts VALUES ($1, 'truck-3', 'r-north', 1, $2, $3)",
        world.live_shift,
        now - timedelta(hours=1),
        now + timedelta(hours=1),
    )
    await conn.execute("INSERT INTO shift_crew (shift_id, person_id) VALUES ($1, 'p-zz-ben')", world.live_shift)
    for vehicle, lat in (("truck-3", 52.52), ("truck-2", 52.53)):
        await conn.execute(
            "INSERT INTO fixes (vehicle_id, ts, lon, lat, speed_mps, heading_deg, hdop) "
            "VALUES ($1, $2, 13.41, $3, 4, 180, 1)",
            vehicle,
            now - timedelta(seconds=60),
            lat,
        )


# Token name -> (username, role): one user per role, plus ben, a second driver.
TOKEN_USERS = {
    "driver": ("ana", "driver"),
    "supervisor": ("sam", "supervisor"),
    "data_officer": ("dora", "data_officer"),
    "admin": ("adam", "admin"),
    "ben": ("ben", "driver"),
}


def tokens_for(app, world: World) -> dict[str, str]:
    """A valid bearer token per TOKEN_USERS entry, issued exactly as sign-in issues them."""
    keys: TokenKeys = app.state.token_keys
    return {name: issue_access_token(keys, world.users[user], role)[0] for name, (user, role) in TOKEN_USERS.items()}


async def _create_database(admin_url: str, template: str | None = None) -> str:
    name = f"fpt_api_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    finally:
        await conn.close()
    return name


async def _drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _on(url: str, work):
    conn = await asyncpg.connect(url)
    try:
        return await work(conn)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def world_template(pg_admin_url, password_hash, tmp_path_factory):
    """(database name, World): the migrated, seeded world, copied (CREATE DATABASE ... TEMPLATE) per use."""
    name = run(_create_database(pg_admin_url))
    settings = _settings(with_database(pg_admin_url, name), tmp_path_factory.mktemp("template"))

    async def build(conn):
        await prepare(conn, settings)
        return await seed_world(conn, password_hash, datetime.now(timezone.utc).date())

    try:
        world = run(_on(settings.database_url, build))
        run(seal_template(pg_admin_url, name))
        yield name, world
    finally:
        run(_drop_database(pg_admin_url, name))


def _world_copy(pg_admin_url: str, world_template) -> tuple[str, World]:
    template, world = world_template
    name = run(_create_database(pg_admin_url, template))
    url = with_database(pg_admin_url, name)
    run(_on(url, lambda conn: seed_live(conn, world, datetime.now(timezone.utc))))
    return name, world


@dataclass
class Api:
    """The app on a seeded database: an HTTP client, tokens per role and the world's facts."""

    client: TestClient
    tokens: dict[str, str]
    world: World
    database_url: str

    def headers(self, role: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}

    def get(self, path: str, role: str | None, **kwargs):
        return self.client.get(path, headers=self.headers(role), **kwargs)

    def post(self, path: str, role: str | None, **kwargs):
        return self.client.post(path, headers=self.headers(role), **kwargs)

    def sql(self, query: str, *args):
        """Run one query on the test database from the test's thread (its own connection)."""

        async def fetch():
            conn = await asyncpg.connect(self.database_url)
            try:
                return await conn.fetch(query, *args)
            finally:
                await conn.close()

        return asyncio.run(fetch())

    def sql_many(self, query: str, rows: list[tuple]) -> None:
        """Run one statement for each of `rows` on one connection."""

        async def execute():
            conn = await asyncpg.connect(self.database_url)
            try:
                await conn.executemany(query, rows)
            finally:
                await conn.close()

        asyncio.run(execute())


def _settings(database_url: str, data_dir) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        jwt_secret="test-" + uuid.uuid4().hex,
        storage_mode=SERVERS.storage_mode,
        _env_file=None,
    )


def _api(pg_admin_url: str, world_template, data_dir):
    name, world = _world_copy(pg_admin_url, world_template)
    settings = _settings(with_database(pg_admin_url, name), data_dir)
    try:
        app = create_app(settings, pool_size=5)
        with TestClient(app) as client:
            yield Api(client, tokens_for(app, world), world, settings.database_url)
    finally:
        run(_drop_database(pg_admin_url, name))


@pytest.fixture(scope="module")
def shared_api(pg_admin_url, world_template, tmp_path_factory):
    """The seeded app, shared by a module's read-only tests (one database copy per module)."""
    yield from _api(pg_admin_url, world_template, tmp_path_factory.mktemp("api"))


@dataclass
class Served:
    """The app on a copy of the world, served by uvicorn on a loopback port."""

    url: str
    app: object
    world: World

    def token(self, username: str, role: str) -> str:
        return issue_access_token(self.app.state.token_keys, self.world.users[username], role)[0]


@pytest.fixture(scope="module")
def served(pg_admin_url, world_template, tmp_path_factory):
    name, world = _world_copy(pg_admin_url, world_template)
    settings = _settings(with_database(pg_admin_url, name), tmp_path_factory.mktemp("served"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(settings, pool_size=5)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            clock.sleep(0.02)
        yield Served(f"http://127.0.0.1:{port}", app, world)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        run(_drop_database(pg_admin_url, name))


@pytest.fixture
def api(pg_admin_url, world_template, tmp_path):
    """The seeded app on a database copy of this test alone (for tests that change data)."""
    yield from _api(pg_admin_url, world_template, tmp_path)
