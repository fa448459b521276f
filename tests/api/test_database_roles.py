"""Issue 13, item 3: the API cannot undo the audit log.

Before, the API connected as a PostgreSQL superuser, the same role that could disable the
append-only trigger on audit_log. Now every service logs in as a least-privilege role made
by the migrations (docs/decisions/0009)."""

from __future__ import annotations

import asyncpg
import pytest
from support import run

from fleetpilot.db.connect import SERVICE_ROLES, as_role, service_database_url


def _query(url: str, sql: str):
    async def go():
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetch(sql)
        finally:
            await conn.close()

    return run(go())


def test_the_running_api_is_not_a_superuser_and_cannot_touch_the_audit_log(shared_api):
    pool = shared_api.client.app.state.pool

    async def as_the_api():
        async with pool.acquire() as conn:
            me = await conn.fetchrow(
                "SELECT current_user AS login, rolsuper FROM pg_roles WHERE rolname = current_user"
            )
            refused = {}
            for name, statement in {
                "disable trigger": "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
                "drop trigger": "DROP TRIGGER audit_log_append_only ON audit_log",
                "update": "UPDATE audit_log SET purpose = 'nothing to see'",
                "delete": "DELETE FROM audit_log",
                "truncate": "TRUNCATE audit_log",
                "reset role": "RESET ROLE; DELETE FROM audit_log",
                "replication role": "SET session_replication_role = replica",
            }.items():
                try:
                    async with conn.transaction():
                        await conn.execute(statement)
                    refused[name] = False
                except (asyncpg.InsufficientPrivilegeError, asyncpg.RaiseError) as exc:
                    refused[name] = type(exc).__name__
            inserted = await conn.fetchval(
                "INSERT INTO audit_log (actor_role, action) VALUES ('admin', 'role test') RETURNING audit_id"
            )
            return dict(me), refused, inserted

    me, refused, inserted = run_on_app_loop(shared_api, as_the_api())
    assert me == {"login": "fleetpilot_api", "rolsuper": False}
    assert all(refused.values()), refused
    assert inserted  # appending still works


def run_on_app_loop(api, coro):
    """Run `coro` on the TestClient's event loop (the pool belongs to it)."""
    return api.client.portal.call(lambda: coro)


def test_roles_made_by_the_migrations_are_least_privilege(db_url):
    rows = _query(
        db_url,
        "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolcanlogin FROM pg_roles "
        "WHERE rolname LIKE 'fleetpilot\\_%' ORDER BY rolname",
    )
    assert {r["rolname"] for r in rows} >= set(SERVICE_ROLES.values())
    for r in rows:
        if r["rolname"] in SERVICE_ROLES.values():
            assert not (r["rolsuper"] or r["rolcreatedb"] or r["rolcreaterole"] or r["rolbypassrls"]), dict(r)
    privileges = {
        (r["grantee"], r["privilege_type"])
        for r in _query(
            db_url,
            "SELECT grantee, privilege_type FROM information_schema.role_table_grants "
            "WHERE table_name = 'audit_log' AND grantee LIKE 'fleetpilot\\_%'",
        )
    }
    assert privileges == {("fleetpilot_api", "SELECT"), ("fleetpilot_api", "INSERT")}
    names = {
        r["grantee"]
        for r in _query(
            db_url,
            "SELECT DISTINCT grantee FROM information_schema.role_table_grants "
            "WHERE table_schema = 'identity' AND grantee LIKE 'fleetpilot\\_%'",
        )
    }
    assert names == {"fleetpilot_api"}  # real names: never ingest or rollup


@pytest.mark.parametrize("service", ["api", "ingest", "rollup"])
def test_each_service_logs_in_as_its_role(settings, db_url, service):
    url = run(service_database_url(settings, service))
    assert url == as_role(db_url, SERVICE_ROLES[service])
    login = _query(url, "SELECT current_user AS u, rolsuper FROM pg_roles WHERE rolname = current_user")[0]
    assert (login["u"], login["rolsuper"]) == (SERVICE_ROLES[service], False)


def test_an_explicit_service_url_wins(settings, db_url):
    explicit = settings.model_copy(update={"rollup_database_url": db_url})
    assert run(service_database_url(explicit, "rollup")) == db_url


def test_doctor_warns_when_a_service_is_configured_with_a_superuser(settings, db_url, capsys):
    from fleetpilot.commands import doctor

    configured = settings.model_copy(update={"api_database_url": db_url})  # the tests' postgres login
    doctor.run(type("Args", (), {"json": False})(), configured)
    out = capsys.readouterr().out
    assert "WARNING the api logs in as postgres, a superuser" in out
    assert "ingest logs in as fleetpilot_ingest (no superuser)" in out
