"""fleetpilot doctor: can we reach our servers, and what state is the schema in?"""

from __future__ import annotations

import argparse
import asyncio
import json

from fleetpilot.broker import probe_broker, resolve_mqtt_url
from fleetpilot.db.connect import SERVICE_ROLES, connect, resolve_database_url, service_database_url
from fleetpilot.db.migrate import discover, status, timescale_available
from fleetpilot.errors import FleetpilotError
from fleetpilot.settings import Settings
from fleetpilot.urls import redact

HELP = "check database and broker reachability, PostgreSQL/TimescaleDB versions, storage mode and pending migrations"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace, settings: Settings) -> int:
    report = {"database": _database_report(settings), "broker": _broker_report(settings)}
    db = report["database"]
    healthy = (
        db["reachable"]
        and report["broker"]["reachable"]
        and not db.get("pending")
        and not any(not job["covered"] for job in db.get("timescaledb_failed_jobs", []))
    )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)
    return 0 if healthy else 1


def _database_report(settings: Settings) -> dict:
    source = "configured" if settings.database_url else "embedded"
    try:
        url = resolve_database_url(settings)
    except FleetpilotError as exc:
        return {"source": source, "reachable": False, "error": str(exc)}
    try:
        details = asyncio.run(_inspect_database(url))
        details["services"] = asyncio.run(_service_logins(settings))
    except FleetpilotError as exc:
        return {"source": source, "url": redact(url), "reachable": False, "error": str(exc)}
    return {"source": source, "url": redact(url), "reachable": True, **details}


ROLE_FACTS = "SELECT current_user AS login, rolsuper AS superuser FROM pg_roles WHERE rolname = current_user"


async def _service_logins(settings: Settings) -> dict:
    """Which role each service logs in as, and whether that is a superuser (it must not be:
    a superuser could disable the audit log's append-only trigger; decision 0009)."""
    logins = {}
    for service in SERVICE_ROLES:
        conn = await connect(await service_database_url(settings, service))
        try:
            logins[service] = dict(await conn.fetchrow(ROLE_FACTS))
        finally:
            await conn.close()
    return logins


async def _inspect_database(url: str) -> dict:
    conn = await connect(url)
    try:
        state = await status(conn, discover())
        installed = await conn.fetchval("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
        failed_jobs = await _failed_jobs(conn) if installed else []
        return {
            "timescaledb_failed_jobs": failed_jobs,
            "server_version": await conn.fetchval("SHOW server_version"),
            "timescaledb_available": await timescale_available(conn),
            "timescaledb_installed": installed,
            "storage_mode": state.mode,
            "applied": [f"{v:04d}" for v in state.applied],
            "pending": [f"{m.version:04d}_{m.name}" for m in state.pending],
        }
    finally:
        await conn.close()


async def _failed_jobs(conn) -> list[dict]:
    """TimescaleDB jobs whose last scheduled run failed, with their intended and effective
    cadence, and whether the rollup upkeep keeps them on cadence (decision 0003)."""
    from datetime import datetime, timezone

    from fleetpilot.rollup import tsjobs

    now = datetime.now(timezone.utc)
    states = await tsjobs.job_states(conn)
    by_upkeep = await tsjobs.runs_by_upkeep(conn)
    overdue = {job.job_id for job in tsjobs.due(states, now, by_upkeep)}
    out = []
    for job in states:
        if job.last_run_status != "Failed":
            continue
        scheduler = job.effective_interval()
        upkeep_at = by_upkeep.get(job.job_id)
        out.append(
            {
                "job_id": job.job_id,
                "proc_name": job.proc_name,
                "hypertable_name": job.hypertable,
                "intended_interval_s": job.schedule_interval.total_seconds(),
                "scheduler_interval_s": scheduler.total_seconds() if scheduler else None,
                "last_success": job.last_successful_finish.isoformat() if job.last_successful_finish else None,
                "run_by_upkeep_at": upkeep_at.isoformat() if upkeep_at else None,
                # Kept on cadence when the scheduler or the upkeep ran it within its interval.
                "covered": job.job_id not in overdue,
                "cause": tsjobs.KNOWN_CAUSE if job.known_cause else (job.last_error or "see job_errors"),
            }
        )
    return out


def _broker_report(settings: Settings) -> dict:
    source = "configured" if settings.mqtt_url else "embedded"
    try:
        url = resolve_mqtt_url(settings)
    except FleetpilotError as exc:
        return {"source": source, "reachable": False, "error": str(exc)}
    probe = probe_broker(url)
    return {
        "source": source,
        "url": redact(url),
        "reachable": probe.reachable,
        "mqtt_protocol": probe.protocol,
        "error": probe.error,
    }


def _print(report: dict) -> None:
    db = report["database"]
    mark = "ok  " if db["reachable"] else "FAIL"
    print(f"[{mark}] database  {db.get('url', '')} ({db['source']})")
    if db["reachable"]:
        ts = db["timescaledb_installed"] or (
            "available, not installed" if db["timescaledb_available"] else "not available"
        )
        print(f"       PostgreSQL {db['server_version']}")
        print(f"       TimescaleDB {ts}")
        print(f"       storage mode: {db['storage_mode'] or 'none yet (run fleetpilot migrate)'}")
        print(
            f"       migrations: {len(db['applied'])} applied, {len(db['pending'])} pending"
            + (f" ({', '.join(db['pending'])})" if db["pending"] else "")
        )
        for service, login in db["services"].items():
            if login["superuser"]:
                print(
                    f"       WARNING the {service} logs in as {login['login']}, a superuser: it could undo the audit "
                    f"log; run `fleetpilot migrate` (creates role {SERVICE_ROLES[service]}) or set "
                    f"FLEETPILOT_{service.upper()}_DATABASE_URL"
                )
            else:
                print(f"       {service} logs in as {login['login']} (no superuser)")
        for job in db["timescaledb_failed_jobs"]:
            scheduler = job["scheduler_interval_s"]
            print(
                f"       WARNING TimescaleDB job {job['job_id']} {job['proc_name']} ({job['hypertable_name'] or '-'}): "
                f"the scheduler's runs fail; intended every {job['intended_interval_s'] / 60:g} min, "
                + (f"the scheduler's next try {scheduler / 60:.0f} min after its last; " if scheduler else "")
                + (
                    f"kept on cadence by the rollup upkeep (last run {job['run_by_upkeep_at']})"
                    if job["covered"] and job["run_by_upkeep_at"]
                    else "NOT on cadence: run `fleetpilot rollup --every 300`"
                    if not job["covered"]
                    else "on cadence"
                )
            )
            print(f"         cause: {job['cause']}")
    else:
        print(f"       {db['error']}")
    broker = report["broker"]
    mark = "ok  " if broker["reachable"] else "FAIL"
    print(f"[{mark}] broker    {broker.get('url', '')} ({broker['source']})")
    if broker["reachable"]:
        print(
            f"       MQTT {broker['mqtt_protocol']}"
            + ("" if broker["mqtt_protocol"] == "5" else " (no MQTT v5: one ingest worker, no shared subscriptions)")
        )
    else:
        print(f"       {broker['error']}")
