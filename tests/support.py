"""Helpers shared by the test modules (importable as `support`)."""

from __future__ import annotations

import asyncio
import socket
import time
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


async def seal_template(admin_url: str, name: str) -> None:
    """Make database `name` safe to copy with CREATE DATABASE ... TEMPLATE.

    With TimescaleDB loaded, a database holding the extension has a scheduler background
    worker (and the jobs it starts) connected to it. TimescaleDB restarts that scheduler
    on CREATE DATABASE ... TEMPLATE, and the restarted one can connect before PostgreSQL
    checks the template is unused: the copy then fails after 5 s with "source database ...
    is being accessed by other users" (timescale/timescaledb#4048, #9080). So: stop the
    template's workers, refuse new connections (TimescaleDB neither starts nor restarts a
    scheduler for a database that allows none) and end any session left."""
    import asyncpg

    conn = await asyncpg.connect(with_database(admin_url, name))
    try:
        if await conn.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"):
            await conn.execute("SELECT _timescaledb_functions.stop_background_workers()")
    finally:
        await conn.close()
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        for _ in range(100):
            left = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            if not left:
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"template database {name} still has sessions")
    finally:
        await admin.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mosquitto_binary() -> str:
    """Debian's mosquitto (./fp test installs it); the shared broker on 1883 is never reconfigured."""
    import shutil

    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise RuntimeError("the mosquitto binary is missing (./fp test installs Debian's mosquitto)")
    return found


class PrivateMosquitto:
    """A Mosquitto of the test's own on a free loopback port: configurable, stoppable, pausable.

    `extra` lines are appended to the configuration; `log` holds the broker's own log
    (log_type all), the evidence to read when a test about broker behaviour fails."""

    def __init__(self, tmp_path, extra: str = ""):
        import subprocess

        self.port = free_port()
        self.dir = tmp_path
        self.log = tmp_path / "mosquitto.log"
        conf = tmp_path / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            f"log_type all\nlog_dest file {self.log}\nuser root\n{extra}\n"
        )
        self.proc = subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while not answers("127.0.0.1", self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"private mosquitto did not start: {self.proc.stderr.read().decode()}")
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def pause(self) -> None:
        import signal

        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        import signal

        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        self.resume()
        self.proc.terminate()
        self.proc.wait(10)


def record_evidence(database_url: str, complaint):
    """The record's evidence for one 311 complaint (open311.evidence on an API pool's connection)."""
    from fleetpilot.api.db import open_pool
    from fleetpilot.api.ogc.params import city_day
    from fleetpilot.open311.evidence import evidence

    async def go():
        pool = await open_pool(database_url, max_size=1)
        try:
            async with pool.acquire() as conn:
                return await evidence(conn, complaint, city_day)
        finally:
            await pool.close()

    return run(go())
