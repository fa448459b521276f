"""A simulated fleet loaded into a scratch database, as the ingest would have stored it.

Shared by the benchmarks that read from the database (`bench api`, `bench pages`,
`bench rollup`): fleetsim simulates a few vehicles at a time (bounded memory) and
``fleetpilot.simload`` COPYs their on-duty fixes and events. Nothing is rolled up here.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import numpy as np

from fleetpilot.db.connect import connect
from fleetpilot.db.schema import prepare
from fleetpilot.settings import Settings


async def load_fleet(conn: asyncpg.Connection, vehicles: int, days: int, seed: int, batch_vehicles: int = 5) -> dict:
    """Migrate, then simulate `vehicles` trucks over the `days` days before today and load them."""
    from fleetpilot.simload import load_run
    from fleetsim.offline import EVENT_COLUMNS, FIX_COLUMNS, FleetRun, iter_vehicle_days, make_config
    from fleetsim.scenario import build_scenario

    await prepare(conn, Settings(_env_file=None))
    today = datetime.now(timezone.utc).date()
    start = datetime.combine(today - timedelta(days=days), datetime.min.time(), timezone.utc) + timedelta(hours=6)
    scenario = build_scenario(
        make_config(n_vehicles=vehicles, days=days, seed=seed, start=start.strftime("%Y-%m-%dT%H:%M:%SZ"))
    )
    timings = {"simulate_s": 0.0, "load_s": 0.0}
    loaded = {"fixes": 0, "events": 0}
    for first in range(0, vehicles, batch_vehicles):
        clock = time.perf_counter()
        parts = [
            vd.published_columns()
            for vd in iter_vehicle_days(scenario, range(first, min(first + batch_vehicles, vehicles)))
        ]
        run = FleetRun(
            scenario,
            {c: np.concatenate([p[0][c] for p in parts]) for c in FIX_COLUMNS},
            {c: np.concatenate([p[1][c] for p in parts]) for c in EVENT_COLUMNS},
            truth={},
        )
        timings["simulate_s"] += time.perf_counter() - clock
        clock = time.perf_counter()
        # The city, routes and roster are the scenario's, whole in every part: imported once
        # (re-importing them with each part made a 200-truck load take hours).
        counts = await load_run(conn, run, documents=first == 0)
        timings["load_s"] += time.perf_counter() - clock
        loaded["fixes"] += counts["fixes"]
        loaded["events"] += counts["events"]
    return {
        "vehicles": vehicles,
        "days": days,
        "start": start.isoformat(),
        **loaded,
        **{k: round(v, 1) for k, v in timings.items()},
    }


@asynccontextmanager
async def scratch_database(
    admin_url: str, prefix: str, reuse: str | None, keep: bool
) -> AsyncIterator[tuple[str, str]]:
    """(name, url) of the bench's database: `reuse` names one loaded before (its data kept,
    brought up to this code's migrations as an upgrade would: a month loaded before a new
    table existed would answer 500), else a new `<prefix>_<random>` one, dropped afterwards
    unless `keep`."""
    name = reuse or f"{prefix}_{uuid.uuid4().hex[:8]}"
    url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    if reuse:
        conn = await connect(url)
        try:
            await prepare(conn, Settings(_env_file=None))
        finally:
            await conn.close()
    else:
        admin = await connect(admin_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
    try:
        yield name, url
    finally:
        if not reuse and not keep:
            admin = await connect(admin_url)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()
