"""The migration runner against a real PostgreSQL: apply, re-run, race, tamper."""

from __future__ import annotations

import asyncio
import shutil

import asyncpg
import pytest
from support import run

from fleetpilot.db.migrate import discover, migrate, migrations_dir, status, timescale_available
from fleetpilot.errors import MigrationError

EXPECTED_TABLES = {
    "fleetpilot_meta",
    "schema_migrations",
    "people",
    "roles",
    "users",
    "token_revocations",
    "vehicles",
    "devices",
    "facilities",
    "street_segments",
    "routes",
    "route_versions",
    "route_segments",
    "route_stops",
    "shifts",
    "shift_crew",
    "privacy_settings",
    "privacy_zones",
    "rejects",
    "privacy_drops",
    "audit_log",
    "fixes",
    "events",
    "fixes_hourly",
    "events_daily",
    "shift_metrics",
    "shift_events",
    "cell_exposure",
    "segment_exposure",
    "rollup_dirty",
}


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition"
        )
        names = {r["relname"] for r in rows}
        if await conn.fetchval("SELECT to_regclass('identity.person_names') IS NOT NULL"):
            names.add("identity.person_names")
        return names
    finally:
        await conn.close()


async def _migrate(url: str, mode: str = "native", migrations=None):
    conn = await asyncpg.connect(url)
    try:
        return await migrate(conn, mode, migrations)
    finally:
        await conn.close()


def test_first_run_applies_all_and_second_is_a_no_op(fresh_db):
    applied = run(_migrate(fresh_db))
    assert [m.version for m in applied] == [m.version for m in discover()]
    assert EXPECTED_TABLES | {"identity.person_names"} <= run(_tables(fresh_db))
    assert run(_migrate(fresh_db)) == []


def test_two_concurrent_runners_apply_each_migration_once(fresh_db):
    async def race():
        return await asyncio.gather(_migrate(fresh_db), _migrate(fresh_db))

    first, second = run(race())
    assert sorted(len(x) for x in (first, second)) == [0, len(discover())]

    async def recorded():
        conn = await asyncpg.connect(fresh_db)
        try:
            return await conn.fetchval("SELECT count(*) FROM schema_migrations")
        finally:
            await conn.close()

    assert run(recorded()) == len(discover())


def test_changed_applied_migration_is_refused(fresh_db, tmp_path):
    copy = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), copy)
    run(_migrate(fresh_db, migrations=discover(copy)))
    core = copy / "0001_core.sql"
    core.write_text(core.read_text() + "\n-- an innocent-looking edit\n")
    with pytest.raises(MigrationError, match="0001_core.sql was changed after it was applied"):
        run(_migrate(fresh_db, migrations=discover(copy)))


def test_new_migration_is_applied_on_top(fresh_db, tmp_path):
    copy = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), copy)
    run(_migrate(fresh_db, migrations=discover(copy)))
    (copy / f"{len(discover()) + 1:04d}_extra.sql").write_text("CREATE TABLE extra (x int);")
    applied = run(_migrate(fresh_db, migrations=discover(copy)))
    assert [m.name for m in applied] == ["extra"]


def test_failing_migration_rolls_back_and_is_not_recorded(fresh_db, tmp_path):
    copy = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), copy)
    run(_migrate(fresh_db, migrations=discover(copy)))
    bad = copy / f"{len(discover()) + 1:04d}_bad.sql"
    bad.write_text("CREATE TABLE half_done (x int);\nSELECT no_such_function();")
    with pytest.raises(MigrationError, match="_bad.sql failed and was rolled back"):
        run(_migrate(fresh_db, migrations=discover(copy)))
    assert "half_done" not in run(_tables(fresh_db))

    async def pending():
        conn = await asyncpg.connect(fresh_db)
        try:
            return [m.name for m in (await status(conn, discover(copy))).pending]
        finally:
            await conn.close()

    assert run(pending()) == ["bad"]


def test_database_from_newer_code_is_refused(fresh_db, tmp_path):
    run(_migrate(fresh_db))
    older = tmp_path / "older"
    older.mkdir()
    for path in migrations_dir().glob("0001_*.sql"):
        shutil.copy(path, older)
    with pytest.raises(MigrationError, match="newer fleetpilot"):
        run(_migrate(fresh_db, migrations=discover(older)))


def test_storage_mode_is_recorded_and_cannot_be_switched(fresh_db):
    run(_migrate(fresh_db, "native"))
    with pytest.raises(MigrationError, match="created in native mode"):
        run(_migrate(fresh_db, "timescale"))


def test_timescale_mode_is_refused_without_the_extension(fresh_db):
    async def has_timescale():
        conn = await asyncpg.connect(fresh_db)
        try:
            return await timescale_available(conn)
        finally:
            await conn.close()

    if run(has_timescale()):
        pytest.skip("this server has timescaledb loaded; the refusal path needs a server without it")
    with pytest.raises(MigrationError, match="timescaledb extension is not available"):
        run(_migrate(fresh_db, "timescale"))
