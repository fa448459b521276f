"""Fixtures for the ingest tests.

Every test gets its own city name (so concurrent runs on the shared Mosquitto never
cross-talk) and its own database. `db_url` is overridden here: a migrated template database
is made once per session and each test's database is copied from it (CREATE DATABASE …
TEMPLATE takes ~0.15 s here; creating and migrating one takes ~2 s).

The helpers live in kit.py. With --import-mode=importlib this folder is not on sys.path,
and `ingest` is the product package's folder name, so kit.py is loaded here under the
name `ingest_kit`; tests import from that.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest
from support import TestServers, run, seal_template, with_database

from fleetpilot.db.schema import prepare
from fleetpilot.ingest.worker import IngestConfig
from fleetpilot.settings import Settings

_spec = importlib.util.spec_from_file_location("ingest_kit", Path(__file__).with_name("kit.py"))
kit = importlib.util.module_from_spec(_spec)
sys.modules["ingest_kit"] = kit
_spec.loader.exec_module(kit)


async def _admin(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def ingest_template(pg_admin_url) -> str:
    name = f"fpt_ingest_template_{uuid.uuid4().hex[:8]}"
    run(_admin(pg_admin_url, f'CREATE DATABASE "{name}"'))

    async def migrate() -> None:
        url = with_database(pg_admin_url, name)
        conn = await asyncpg.connect(url)
        try:
            await prepare(conn, Settings(database_url=url, storage_mode=TestServers().storage_mode, _env_file=None))
        finally:
            await conn.close()

    run(migrate())
    run(seal_template(pg_admin_url, name))
    yield name
    run(_admin(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def db_url(pg_admin_url, ingest_template, request) -> str:
    """A migrated database of this test's own, dropped afterwards."""
    slug = "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:30]
    name = f"fpt_{slug}_{uuid.uuid4().hex[:8]}"
    run(_admin(pg_admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{ingest_template}"'))
    yield with_database(pg_admin_url, name)
    run(_admin(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def city() -> str:
    return kit.unique_city()


@pytest.fixture
def start_worker(db_url, mqtt_url, city):
    """start_worker(**config overrides) -> a running WorkerThread; all are stopped after the test."""
    started: list = []

    def start(**overrides):
        config = IngestConfig(
            database_url=db_url,
            mqtt_url=mqtt_url,
            city=city,
            worker_id=f"w{len(started) + 1}",
            batch_wait_s=0.05,
            shutdown_timeout_s=10,
        )
        worker = kit.WorkerThread(replace(config, **overrides)).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def start_process(db_url, mqtt_url, city, tmp_path):
    started: list = []

    def start(*args: str, mqtt: str | None = None, cli: bool = True):
        proc = kit.WorkerProcess(
            db_url, mqtt or mqtt_url, city, tmp_path / "ingest.log", "--batch-wait", "0.05", *args, cli=cli
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.close()


@pytest.fixture
def publisher(mqtt_url, city):
    pub = kit.Publisher(mqtt_url, city)
    yield pub
    pub.close()


@pytest.fixture
def clean_retained(mqtt_url, city):
    """Remove the retained status messages a simulated fleet leaves on the shared broker."""
    vids: list[str] = []
    yield vids
    if not vids:
        return
    cleaner = kit.Publisher(mqtt_url, city)
    for vid in vids:
        cleaner.client.publish(f"fleet/{city}/{vid}/status", b"", qos=1, retain=True).wait_for_publish(5)
    cleaner.close()


@pytest.fixture
def proxy():
    """proxy(host, port) -> a Proxy; all closed after the test."""
    made: list = []

    def make(host: str, port: int):
        p = kit.Proxy(host, port)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()
