"""`fleetpilot rollup --every` as a service: its metrics, and a database restart it survives."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import asyncpg
import pytest
from private_servers import PrivatePostgres, free_port
from support import run

from fleetpilot.db.schema import prepare
from fleetpilot.settings import Settings

pytestmark = [pytest.mark.integration]


async def _fetch(url: str, query: str) -> list:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(query)
    finally:
        await conn.close()


def scrape(port: int) -> dict[str, float]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return {}
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            samples[key] = float(value)
    return samples


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.mark.timeout(120)
def test_rollup_service_exports_metrics_and_survives_a_database_restart(tmp_path):
    pg = PrivatePostgres()
    proc = None
    try:
        pg.start()

        async def migrate() -> None:
            from fleetpilot.db.importer import import_city
            from fleetsim.config import SimConfig
            from fleetsim.scenario import build_scenario

            conn = await asyncpg.connect(pg.admin_url)
            try:
                await prepare(conn, Settings(database_url=pg.admin_url, storage_mode="native", _env_file=None))
                await import_city(conn, build_scenario(SimConfig(seed=3, n_vehicles=1, hours=0.1)).city_geojson())
            finally:
                await conn.close()

        run(migrate())
        port = free_port()
        env = {
            **os.environ,
            "FLEETPILOT_DATABASE_URL": pg.admin_url,
            "FLEETPILOT_ENV_FILE": "/nonexistent",
            "FLEETPILOT_DATA_DIR": str(tmp_path),
        }
        log = open(tmp_path / "rollup.log", "wb")
        started = time.time()
        proc = subprocess.Popen(
            [sys.executable, "-m", "fleetpilot.cli", "rollup", "--every", "0.3", "--metrics-port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        ok = 'fleetpilot_rollup_runs_total{outcome="ok"}'
        error = 'fleetpilot_rollup_runs_total{outcome="error"}'
        wait_for(lambda: scrape(port).get(ok, 0) >= 1, 60, "a successful run")
        first = scrape(port)
        # A success of this process (a fixed window before now raced the clock on a busy machine).
        assert first["fleetpilot_rollup_last_success_timestamp_seconds"] >= started
        assert first["fleetpilot_rollup_dirty_marks"] == 0
        pg.stop("fast")
        wait_for(lambda: scrape(port).get(error, 0) >= 1, 30, "a failed run to be counted")
        assert proc.poll() is None, (tmp_path / "rollup.log").read_text()
        pg.start()
        before = scrape(port).get(ok, 0)
        wait_for(lambda: scrape(port).get(ok, 0) > before + 1, 30, "successful runs after the restart")
        assert proc.poll() is None
        # The weekly open-data release: written by the first run, not again by the later ones.
        releases = run(_fetch(pg.admin_url, "SELECT period_start, period_end, directory FROM open_data_releases"))
        assert len(releases) == 1, releases
        assert (releases[0]["period_end"] - releases[0]["period_start"]).days == 28
        assert releases[0]["directory"].startswith(str(tmp_path / "releases"))
    finally:
        if proc is not None:
            proc.kill()
            proc.wait(10)
        pg.close()
