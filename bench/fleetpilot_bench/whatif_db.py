"""`fleetpilot bench whatif --from-db`: what-if answers as a data officer gets them, from a
month in the database, beside the pure kernel time of the same answers (issue 22, item 4).

A simulated fleet (default 50 trucks × 30 days) is loaded into a scratch database and rolled
up with its what-if legs (`--reuse NAME` measures a loaded one, e.g. `bench api --keep`'s
month, preparing the legs it lacks). Then every library question and every scenario is asked
over the month's whole weeks through the one path the API's /whatif doors take
(``service.answer_in_scope``: the release rule's shifts under the live k, then the answer),
as a data officer of the database (`bench-data-officer`, made on first use), `--repeats`
times each with no stored answer (uncached: the release check, the data fingerprint, the
month's History — loaded, or kept by the process from an earlier answer over the same data —,
the analysis and storing the answer), and its kernel alone (``ask`` / ``run_scenario`` on the
History loaded once). One answer is also asked cold (nothing kept by the process). Wall and
CPU seconds of this process per answer. Targets (issue 22): uncached question p95 < 1 s,
scenario p95 < 3 s.
"""

from __future__ import annotations

import argparse
import os
import secrets
import time
from datetime import timedelta

import asyncpg
import numpy as np
import orjson

from fleetpilot.analytics.whatif import scenarios
from fleetpilot.analytics.whatif.privacy import Privacy
from fleetpilot.analytics.whatif.questions import QUESTIONS, Context, ask
from fleetpilot.api.policy import Access, AggregateScope, Capability, Principal, released_shifts, whole_weeks
from fleetpilot.api.users import create_user
from fleetpilot.api.whatif import service
from fleetpilot.db.connect import connect
from fleetpilot.localtime import local_day
from fleetpilot.rollup.whatif.load import forget_cached, load_history
from fleetpilot.settings import Settings
from fleetpilot_bench.fleet import scratch_database

TARGET_QUESTION_P95_S = 1.0
TARGET_SCENARIO_P95_S = 3.0
BENCH_USER = "bench-data-officer"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=3, help="uncached askings of each question and scenario")
    parser.add_argument(
        "--questions",
        help="comma-separated library question ids to ask (default: all; on a busy machine a subset "
        "keeps the run to minutes: each uncached answer loads the month's legs again)",
    )
    parser.add_argument("--batch-vehicles", type=int, default=5, help="vehicles simulated and loaded at a time")
    parser.add_argument("--database-url", help="admin URL of the server (default: FLEETPILOT_DATABASE_URL)")
    parser.add_argument("--reuse", metavar="NAME", help="measure this already loaded database")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (its name is printed)")


async def bench(args: argparse.Namespace, admin_url: str) -> dict:
    settings = Settings()
    tz = settings.timezone
    async with scratch_database(admin_url, "fpbench_whatif", args.reuse, args.keep) as (name, url):
        report: dict = {"benchmark": "whatif_from_db", "database": name}
        conn = await connect(url)
        try:
            if not args.reuse:
                report["dataset"] = await _load(conn, url, args)
            report["legs_prepared_now"] = await _prepare_missing(conn, tz)
            report.update(await _measure(conn, args, tz))
        finally:
            await conn.close()
    report["kept"] = bool(args.keep or args.reuse)
    return report


async def _load(conn: asyncpg.Connection, url: str, args: argparse.Namespace) -> dict:
    from fleetpilot.rollup.job import run_rollup
    from fleetpilot_bench.api import _json_without_nan
    from fleetpilot_bench.fleet import load_fleet

    loaded = await load_fleet(conn, args.trucks, args.days, args.seed, args.batch_vehicles)
    clock = time.perf_counter()
    rollup_conn = await connect(url)  # as bench api: a connection without load_run's codec
    try:
        await rollup_conn.set_type_codec("jsonb", encoder=_json_without_nan, decoder=orjson.loads, schema="pg_catalog")
        rollup = await run_rollup(rollup_conn, whatif=True)
    finally:
        await rollup_conn.close()
    await conn.execute("ANALYZE")
    return {**loaded, "rolled_up_shifts": rollup.shifts, "rollup_with_legs_s": round(time.perf_counter() - clock, 1)}


async def _prepare_missing(conn: asyncpg.Connection, tz: str) -> int:
    """Legs for shifts without them (a database rolled up without --whatif, e.g. bench api's)."""
    from fleetpilot.rollup.whatif.prepare import prepare

    first, last = await conn.fetchrow("SELECT min(starts_at), max(starts_at) FROM shifts")
    if first is None:
        raise SystemExit("the database has no shifts")
    report = await prepare(conn, local_day(first, tz), local_day(last, tz) + timedelta(days=1), tz=tz)
    return report.shifts


async def _scenario_params(conn: asyncpg.Connection) -> dict[str, dict]:
    """Parameters a data officer would give the scenarios that need some, taken from the city."""
    centre = await conn.fetchrow(
        "SELECT avg((geometry #>> '{coordinates,0,0}')::float8) AS lon, "
        "avg((geometry #>> '{coordinates,0,1}')::float8) AS lat FROM street_segments"
    )
    facility = await conn.fetchval(
        "SELECT facility_id FROM facilities WHERE facility_type = 'transfer_station' ORDER BY 1 LIMIT 1"
    ) or await conn.fetchval("SELECT facility_id FROM facilities ORDER BY 1 LIMIT 1")
    route = await conn.fetchval("SELECT route_id FROM shifts WHERE route_id IS NOT NULL ORDER BY 1 LIMIT 1")
    point = {"lon": centre["lon"], "lat": centre["lat"]}
    return {
        "facility_move": {"facility_id": facility, **point},
        "frequency": point,
        "resequence": {"route_id": route},
        "calming": {**point, "radius_m": 300.0},
        "zone_speed": point,  # a library question
    }


def _p95(values: list[float]) -> float | None:
    return round(float(np.percentile(values, 95)), 3) if values else None


async def _data_officer(conn: asyncpg.Connection) -> Access:
    """What the gate admits for a data officer of this database (made on first use; its
    password is random and thrown away). k is left to the scope to read live, as when the
    gate found no privacy row with the user."""
    user_id = await conn.fetchval("SELECT user_id FROM users WHERE username = $1", BENCH_USER)
    if user_id is None:
        user_id = await create_user(conn, BENCH_USER, secrets.token_urlsafe(24), "data_officer")
    return Access(Capability.WHATIF, Principal(user_id, BENCH_USER, "data_officer", None))


async def _timed_answer(conn, access, kind, name, values, days, tz) -> tuple[float, float, service.Stored]:
    """(wall s, CPU s of this process, the answer) of one uncached answer as a door gets it."""
    await conn.execute("DELETE FROM whatif_results")  # nothing stored: computed anew
    wall, cpu = time.perf_counter(), time.process_time()
    stored = await service.answer_in_scope(conn, access, kind, name, values, days, tz)
    return time.perf_counter() - wall, time.process_time() - cpu, stored


async def _measure(conn: asyncpg.Connection, args: argparse.Namespace, tz: str) -> dict:
    loadavg_before = _loadavg()
    first, last = await conn.fetchrow("SELECT min(starts_at), max(starts_at) FROM shifts")
    days = (local_day(first, tz), local_day(last, tz) + timedelta(days=1))
    start, end = whole_weeks(days)
    k_shifts, k_people = await conn.fetchrow("SELECT k_min_shifts, k_min_people FROM privacy_settings")
    scope, privacy = AggregateScope(start, end, k_shifts, k_people), Privacy(k_shifts, k_people)
    access = await _data_officer(conn)
    params = await _scenario_params(conn)
    # An uncached answer's steps besides its kernel, each timed once (the load: cold).
    forget_cached()
    clock = time.perf_counter()
    released = await released_shifts(conn, scope, tz)
    release_s = time.perf_counter() - clock
    clock = time.perf_counter()
    await service.fingerprint(conn, start, end, tz, released)
    fingerprint_s = time.perf_counter() - clock
    clock, cpu = time.perf_counter(), time.process_time()
    history, total = await load_history(conn, start, end, tz, only=released)
    load_s, load_cpu_s = time.perf_counter() - clock, time.process_time() - cpu
    clock = time.perf_counter()
    await load_history(conn, start, end, tz, only=released)
    kept_s = time.perf_counter() - clock
    wanted = args.questions.split(",") if args.questions else list(QUESTIONS)
    unknown = [q for q in wanted if q not in QUESTIONS]
    if unknown:
        raise SystemExit(f"unknown question(s): {', '.join(unknown)}")
    asked: list[tuple[service.Kind, str, dict]] = [("question", q, params.get(q, {})) for q in wanted]
    asked += [("scenario", s, params.get(s, {})) for s in scenarios.SCENARIOS]
    # A cold answer: the first question of a fresh process (city and History built from the rows).
    forget_cached()
    cold_s, cold_cpu_s, _ = await _timed_answer(conn, access, *asked[0], days, tz)
    figures: dict[str, dict] = {"question": {}, "scenario": {}}
    errors: dict[str, str] = {}
    for kind, name, values in asked:
        try:
            completed = service.completed_params(kind, name, values)
            clock = time.perf_counter()
            if kind == "question":
                ask(name, history, completed, Context(privacy=privacy))
            else:
                scenarios.run_scenario(name, history, completed, privacy)
            kernel_s = time.perf_counter() - clock
            uncached, cpu_s, compute = [], [], []
            for _ in range(args.repeats):
                wall, cpu, stored = await _timed_answer(conn, access, kind, name, values, days, tz)
                uncached.append(wall)
                cpu_s.append(cpu)
                compute.append(stored.compute_s)
        except (service.WhatIfError, ValueError) as exc:
            errors[f"{kind}:{name}"] = str(exc)
            continue
        figures[kind][name] = {
            "kernel_s": round(kernel_s, 3),
            "uncached_s": [round(s, 3) for s in uncached],
            "cpu_s": [round(s, 3) for s in cpu_s],
            "compute_s": round(float(np.median(compute)), 3),
        }

    def p95(kind: str, key: str) -> float | None:
        return _p95([s for f in figures[kind].values() for s in (f[key] if isinstance(f[key], list) else [f[key]])])

    summary = {
        "question_uncached_p95_s": p95("question", "uncached_s"),
        "question_cpu_p95_s": p95("question", "cpu_s"),
        "question_kernel_p95_s": p95("question", "kernel_s"),
        "scenario_uncached_p95_s": p95("scenario", "uncached_s"),
        "scenario_cpu_p95_s": p95("scenario", "cpu_s"),
        "scenario_kernel_p95_s": p95("scenario", "kernel_s"),
    }
    return {
        "period": {"from": start.isoformat(), "to": end.isoformat(), "tz": tz},
        "shifts_in_period": total,
        "released_shifts": len(released),
        "history": {"shifts": int(history.shifts.size), "legs": int(history.legs.size)},
        "k": [k_shifts, k_people],
        "repeats": args.repeats,
        "questions_asked": len(wanted),
        # An uncached answer = release check + fingerprint + the History (loaded, or kept) + kernel + storing.
        "release_once_s": round(release_s, 3),
        "fingerprint_once_s": round(fingerprint_s, 3),
        "load_history_cold_s": round(load_s, 3),
        "load_history_cold_cpu_s": round(load_cpu_s, 3),
        "load_history_kept_s": round(kept_s, 3),
        "cold_answer": {"name": f"{asked[0][0]}:{asked[0][1]}", "s": round(cold_s, 3), "cpu_s": round(cold_cpu_s, 3)},
        **summary,
        "targets": {
            f"question_uncached_p95_under_{TARGET_QUESTION_P95_S:g}_s": (summary["question_uncached_p95_s"] or 1e9)
            < TARGET_QUESTION_P95_S,
            f"scenario_uncached_p95_under_{TARGET_SCENARIO_P95_S:g}_s": (summary["scenario_uncached_p95_s"] or 1e9)
            < TARGET_SCENARIO_P95_S,
        },
        "questions": figures["question"],
        "scenarios": figures["scenario"],
        "errors": errors,
        "machine": {"cpus": os.cpu_count(), "loadavg_before": loadavg_before, "loadavg_after": _loadavg()},
    }


def _loadavg() -> str:
    with open("/proc/loadavg") as f:
        return f.read().strip()
