"""fleetpilot doctor: can we reach our servers, and what state is the schema in?"""

from __future__ import annotations

import argparse
import asyncio
import json

from fleetpilot.broker import probe_broker, resolve_mqtt_url
from fleetpilot.db.connect import connect, resolve_database_url
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
        and not db.get("timescaledb_failed_jobs")
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
    except FleetpilotError as exc:
        return {"source": source, "url": redact(url), "reachable": False, "error": str(exc)}
    return {"source": source, "url": redact(url), "reachable": True, **details}


async def _inspect_database(url: str) -> dict:
    conn = await connect(url)
    try:
        state = await status(conn, discover())
        installed = await conn.fetchval("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
        failed_jobs = [dict(r) for r in await conn.fetch(FAILED_JOBS_SQL)] if installed else []
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


# Background jobs (compression, continuous-aggregate refresh, retention) whose last run
# failed: retention is then not enforced between `fleetpilot retention` runs.
FAILED_JOBS_SQL = """
SELECT j.job_id, j.proc_name, j.hypertable_name, s.last_run_started_at::text AS last_run
FROM timescaledb_information.jobs j
JOIN timescaledb_information.job_stats s USING (job_id)
WHERE s.last_run_status = 'Failed'
ORDER BY j.job_id
"""


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
        for job in db["timescaledb_failed_jobs"]:
            print(
                f"       WARNING TimescaleDB job {job['job_id']} {job['proc_name']} "
                f"({job['hypertable_name'] or '-'}) failed at {job['last_run']}: see timescaledb_information.job_errors"
            )
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
