"""A small forward-only migration runner (see docs/decisions/0001-migrations.md).

Migrations are ``NNNN_name.sql`` files in ``fleetpilot/db/migrations``. A version that
differs between storage modes has two variants, ``NNNN_name.native.sql`` and
``NNNN_name.timescale.sql``, and the database applies the one of its mode. Each version
runs in its own transaction with ``fleetpilot.storage_mode`` set, and is recorded with
the SHA-256 of the file applied. A session advisory lock serialises concurrent runners.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import asyncpg

from fleetpilot.errors import MigrationError

MODES = ("native", "timescale")
# Arbitrary constant; every fleetpilot process uses it to serialise `migrate`.
ADVISORY_LOCK_KEY = 0x466C_6565_7450  # "FleetP"
_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+?)(?:\.(?P<mode>native|timescale))?\.sql$")

BOOKKEEPING_SQL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version      integer PRIMARY KEY,
    name         text NOT NULL,
    checksum     text NOT NULL,
    storage_mode text NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    duration_ms  integer NOT NULL
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    variants: dict[str, Path]  # mode ("native"/"timescale") or "common" -> file

    def file_for(self, mode: str) -> Path:
        return self.variants.get("common") or self.variants[mode]

    def checksum(self, mode: str) -> str:
        return hashlib.sha256(self.file_for(mode).read_bytes()).hexdigest()


@dataclass
class Status:
    mode: str | None  # mode recorded in the database, None before the first migration
    applied: list[int] = field(default_factory=list)
    pending: list[Migration] = field(default_factory=list)


def migrations_dir() -> Path:
    return Path(str(resources.files("fleetpilot.db") / "migrations"))


def discover(directory: Path | None = None) -> list[Migration]:
    """All migrations in version order; refuses gaps, duplicates and half-written variants."""
    directory = directory or migrations_dir()
    found: dict[int, dict] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"migration file {path.name!r} is not named NNNN_name[.native|.timescale].sql")
        version = int(match["version"])
        entry = found.setdefault(version, {"name": match["name"], "variants": {}})
        if entry["name"] != match["name"]:
            raise MigrationError(f"migration version {version:04d} has two names: {entry['name']}, {match['name']}")
        key = match["mode"] or "common"
        if key in entry["variants"]:
            raise MigrationError(f"migration {path.name} is duplicated")
        entry["variants"][key] = path
    result = []
    for expected, version in enumerate(sorted(found), start=1):
        if version != expected:
            raise MigrationError(f"migration versions must be consecutive from 0001; {expected:04d} is missing")
        variants = found[version]["variants"]
        if "common" in variants and len(variants) > 1:
            raise MigrationError(f"migration {version:04d} has both a common file and mode variants")
        if "common" not in variants and set(variants) != set(MODES):
            raise MigrationError(f"migration {version:04d} needs both .native.sql and .timescale.sql variants")
        result.append(Migration(version, found[version]["name"], variants))
    return result


async def timescale_available(conn: asyncpg.Connection) -> bool:
    """True when the timescaledb extension is installed, or installable and preloaded."""
    if await conn.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"):
        return True
    available = await conn.fetchval("SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'")
    preload = await conn.fetchval("SELECT current_setting('shared_preload_libraries')")
    return bool(available) and "timescaledb" in preload


async def recorded_mode(conn: asyncpg.Connection) -> str | None:
    if not await conn.fetchval("SELECT to_regclass('fleetpilot_meta') IS NOT NULL"):
        return None
    return await conn.fetchval("SELECT value FROM fleetpilot_meta WHERE key = 'storage_mode'")


async def choose_mode(conn: asyncpg.Connection, requested: str) -> str:
    """The storage mode to use: the recorded one, else from `requested` (auto/native/timescale)."""
    recorded = await recorded_mode(conn)
    if recorded:
        if requested not in ("auto", recorded):
            raise MigrationError(
                f"this database was created in {recorded} mode; FLEETPILOT_STORAGE_MODE={requested} cannot change it"
            )
        return recorded
    has_timescale = await timescale_available(conn)
    if requested == "timescale" and not has_timescale:
        raise MigrationError(
            "FLEETPILOT_STORAGE_MODE=timescale but the timescaledb extension is not available "
            "(install it and add it to shared_preload_libraries)"
        )
    if requested == "auto":
        return "timescale" if has_timescale else "native"
    return requested


async def status(conn: asyncpg.Connection, migrations: list[Migration] | None = None) -> Status:
    migrations = migrations if migrations is not None else discover()
    mode = await recorded_mode(conn)
    applied: list[int] = []
    if await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
        applied = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")]
    done = set(applied)
    return Status(mode=mode, applied=applied, pending=[m for m in migrations if m.version not in done])


async def migrate(
    conn: asyncpg.Connection, requested_mode: str = "auto", migrations: list[Migration] | None = None
) -> list[Migration]:
    """Apply pending migrations; return those applied (empty when up to date)."""
    migrations = migrations if migrations is not None else discover()
    await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
    try:
        await conn.execute(BOOKKEEPING_SQL)
        mode = await choose_mode(conn, requested_mode)
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
        _verify_applied(rows, migrations, mode)
        done = {r["version"] for r in rows}
        applied = []
        for migration in migrations:
            if migration.version in done:
                continue
            await _apply(conn, migration, mode)
            applied.append(migration)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)


def _verify_applied(rows, migrations: list[Migration], mode: str) -> None:
    by_version = {m.version: m for m in migrations}
    for row in rows:
        migration = by_version.get(row["version"])
        if migration is None:
            raise MigrationError(
                f"the database has migration {row['version']:04d}_{row['name']} which this code does not know; "
                "it was migrated by a newer fleetpilot"
            )
        on_disk = migration.checksum(mode)
        if on_disk != row["checksum"]:
            raise MigrationError(
                f"migration {migration.file_for(mode).name} was changed after it was applied "
                f"(database has checksum {row['checksum'][:12]}, file has {on_disk[:12]}); "
                "migrations are forward-only: restore the file and add a new migration instead"
            )


async def _apply(conn: asyncpg.Connection, migration: Migration, mode: str) -> None:
    path = migration.file_for(mode)
    sql = path.read_text()
    started = time.perf_counter()
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('fleetpilot.storage_mode', $1, true)", mode)
            await conn.execute(sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum, storage_mode, duration_ms) "
                "VALUES ($1, $2, $3, $4, $5)",
                migration.version,
                migration.name,
                migration.checksum(mode),
                mode,
                int((time.perf_counter() - started) * 1000),
            )
    except asyncpg.PostgresError as exc:
        raise MigrationError(f"migration {path.name} failed and was rolled back: {exc}") from None
