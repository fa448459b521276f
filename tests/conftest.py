"""Shared fixtures: real PostgreSQL and a real MQTT broker, embedded ones as a fallback.

Servers come from FLEETPILOT_TEST_DATABASE_URL / FLEETPILOT_TEST_MQTT_URL when set, else
from 127.0.0.1:5432 / 127.0.0.1:1883 when something answers there, else the embedded
pgserver / amqtt are started (as `fleetpilot demo` would). Every test that asks for a
database gets a fresh, uniquely named one, dropped afterwards.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest
from support import TestServers, answers, run, with_database

from fleetpilot.db.schema import prepare
from fleetpilot.settings import Settings

SERVERS = TestServers()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fleetpilot-data")


@pytest.fixture(scope="session")
def pg_admin_url(data_dir) -> str:
    if SERVERS.database_url:
        return SERVERS.database_url
    if answers("127.0.0.1", 5432):
        return "postgresql://postgres@127.0.0.1:5432/postgres"
    from fleetpilot.embedded import embedded_database_url

    return embedded_database_url(Settings(data_dir=data_dir))


@pytest.fixture(scope="session")
def mqtt_url(data_dir) -> str:
    if SERVERS.mqtt_url:
        return SERVERS.mqtt_url
    if answers("127.0.0.1", 1883):
        return "mqtt://127.0.0.1:1883"
    from fleetpilot.embedded import embedded_broker_url

    return embedded_broker_url(Settings(data_dir=data_dir))


async def _create_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
def fresh_db(pg_admin_url, request) -> str:
    """URL of a new, empty database named after the test; dropped after the test."""
    slug = "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:30]
    name = f"fpt_{slug}_{uuid.uuid4().hex[:8]}"
    run(_create_database(pg_admin_url, name))
    yield with_database(pg_admin_url, name)
    run(_drop_database(pg_admin_url, name))


@pytest.fixture
def settings(fresh_db, mqtt_url, data_dir) -> Settings:
    """Settings pointing at this test's database and the test broker."""
    return Settings(
        database_url=fresh_db,
        mqtt_url=mqtt_url,
        data_dir=data_dir,
        storage_mode=SERVERS.storage_mode,
        jwt_secret="test-secret-" + uuid.uuid4().hex,
        _env_file=None,
    )


@pytest.fixture
def db_url(settings) -> str:
    """A fresh database with the full schema applied."""

    async def _prepare() -> None:
        conn = await asyncpg.connect(settings.database_url)
        try:
            await prepare(conn, settings)
        finally:
            await conn.close()

    run(_prepare())
    return settings.database_url
