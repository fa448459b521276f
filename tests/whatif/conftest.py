"""Fixtures of the what-if tests: synthetic fleets with known causal structure, a simulator
(fleetsim) run turned into a history, and a small pilot database with prepared legs."""

from __future__ import annotations

import uuid

import pytest
from support import TestServers, run, with_database
from whatif.whatif_pilot import FIRST_DAY, PERIOD, K, with_conn

from fleetpilot.analytics.whatif.synthetic import SyntheticConfig, generate
from fleetpilot.db.schema import prepare as prepare_schema
from fleetpilot.settings import Settings

BASE = SyntheticConfig(rows=16, days=21)


@pytest.fixture(scope="session")
def base_config() -> SyntheticConfig:
    return BASE


@pytest.fixture(scope="session")
def base_fleet():
    return generate(BASE)


@pytest.fixture(scope="session")
def sim_run():
    """10 trucks × 7 days from the simulator (about 2.5 M fixes; ~2 s)."""
    from fleetsim.offline import generate_fleet

    return generate_fleet(n_vehicles=10, days=7, seed=3, start="2026-03-02T06:00:00Z")


@pytest.fixture(scope="session")
def sim_history(sim_run):
    from fleetpilot.analytics.whatif.assemble import history_from_documents

    return history_from_documents(
        sim_run.city_geojson,
        sim_run.routes_geojson,
        sim_run.roster,
        sim_run.fixes,
        sim_run.events,
        sim_run.vehicle_ids,
        sim_run.event_kinds,
    )


# --- a pilot database for the service and page tests ---------------------------------------


@pytest.fixture(scope="session")
def small_run():
    """2 trucks × 2 days from the simulator, ending four days ago (so every shift is over)."""
    from fleetsim.offline import generate_fleet

    return generate_fleet(n_vehicles=2, days=2, seed=11, start=f"{FIRST_DAY.isoformat()}T06:00:00Z")


@pytest.fixture(scope="session")
def pilot_settings(pg_admin_url, data_dir):
    """One database for the session: loading and preparing the fleet is the slow part."""
    name = f"fpt_whatif_{uuid.uuid4().hex[:8]}"
    run(with_conn(pg_admin_url, lambda c: c.execute(f'CREATE DATABASE "{name}"')))
    settings = Settings(
        database_url=with_database(pg_admin_url, name),
        data_dir=data_dir,
        storage_mode=TestServers().storage_mode,
        jwt_secret="test-" + uuid.uuid4().hex,
        _env_file=None,
    )
    run(with_conn(settings.database_url, lambda c: prepare_schema(c, settings)))
    yield settings
    run(with_conn(pg_admin_url, lambda c: c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')))


@pytest.fixture(scope="session")
def prepared(pilot_settings, small_run):
    """(database URL, prepare report): the run loaded as the ingest stores it, legs prepared."""
    from fleetpilot.rollup.whatif.prepare import prepare
    from fleetpilot.simload import load_run

    url = pilot_settings.database_url
    run(with_conn(url, lambda c: load_run(c, small_run)))
    return url, run(with_conn(url, lambda c: prepare(c, *PERIOD)))


@pytest.fixture(scope="session")
def pilot_users(prepared) -> dict[str, int]:
    """A user per role (user ids); k lowered to the small fleet's size."""
    url, _ = prepared

    async def create(conn):
        await conn.execute("UPDATE privacy_settings SET k_min_shifts = $1, k_min_people = $2", K.k_shifts, K.k_people)
        ids = {}
        for role in ("data_officer", "supervisor", "admin"):
            ids[role] = await conn.fetchval(
                "INSERT INTO users (username, password_hash, role) VALUES ($1, 'x', $2) RETURNING user_id",
                f"u-{role}",
                role,
            )
        person = await conn.fetchval("SELECT person_id FROM people ORDER BY person_id LIMIT 1")
        ids["driver"] = await conn.fetchval(
            "INSERT INTO users (username, password_hash, role, person_id) VALUES ('u-driver', 'x', 'driver', $1) "
            "RETURNING user_id",
            person,
        )
        return ids

    return run(with_conn(url, create))
