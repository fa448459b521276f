"""Helpers shared by the test modules (importable as `support`)."""
from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit, urlunsplit

from pydantic_settings import BaseSettings, SettingsConfigDict


class TestServers(BaseSettings):
    """Where the tests find their servers (FLEETPILOT_TEST_* variables)."""

    __test__ = False  # not a test class
    model_config = SettingsConfigDict(env_prefix="FLEETPILOT_TEST_", env_file=None)
    database_url: str | None = None  # an admin URL: tests create and drop databases through it
    mqtt_url: str | None = None
    storage_mode: str = "auto"



def answers(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def run(coro):
    """Run a coroutine to completion from a synchronous test."""
    return asyncio.run(coro)


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` (works for host URLs and socket URLs)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))




async def with_conn(url: str, fn):
    """Open a connection to `url`, await fn(conn), close it; returns fn's result."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return await fn(conn)
    finally:
        await conn.close()
