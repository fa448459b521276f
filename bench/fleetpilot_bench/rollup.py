"""`fleetpilot bench rollup`: the rollup stage end to end from the database, beside its limit, as JSON.

    fleetpilot bench rollup [--trucks 200 --days 1 --batch 50 --workers 1]

A simulated fleet (fleetpilot_bench.fleet, as the ingest stores it) is loaded into a scratch
database; then `fleetpilot rollup --all` runs as its own process (what an operator runs:
per-shift analytics, exposure, time rollups, hotspot blocks, known hotspots and what-if
legs) and reports seconds per stage; its peak RSS is the child's, from wait4. In the same
run, on the same rows, the two physical limits are measured:

- ``copy_out``: a binary COPY of every shift's fixes out of PostgreSQL (what reading costs
  when nothing but the wire and the server's executor is paid);
- ``kernel``: the pure analytics over those rows, per batch of ``--batch`` shifts (CPU
  seconds of ``analyse``), and the what-if leg kernel per shift (``prepare_shift``).

``ratio_limit_to_end_to_end`` is max(copy out, kernel) / end-to-end: 1.0 would be as fast as
the slower of the two allows (the issue's target is ≥ 0.5). The backfill estimate is the
shifts/hour of this run, and the days a 2,000-truck year (one shift per truck-day) takes at it.
Every figure is beside ``/proc/loadavg`` read when it was measured: the machine is shared.

``--reuse NAME`` rolls up a database kept by ``--keep`` again: a recompute, which writes only
rows that changed; ``--reuse NAME --first`` empties the rollup's results first, so the run is a
first rollup of every shift, as after a fresh load, without loading again (``rollup_is``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from fleetpilot.db.connect import connect, resolve_database_url
from fleetpilot.db.copyout import copy_columns
from fleetpilot.rollup.job import (  # the limit reads as the rollup does
    BATCH_FIXES,
    FIX_WIRE,
    NO_JIT,
    prepare_street_index,
)
from fleetpilot.settings import Settings
from fleetpilot_bench.fleet import load_fleet, scratch_database

SHIFTS = """
SELECT shift_id, vehicle_id, route_id, route_version, starts_at, ends_at FROM shifts
WHERE ends_at <= now() ORDER BY starts_at, shift_id
"""
EVENTS = """
SELECT s.ord::int - 1 AS track, (extract(epoch FROM e.ts) * 1000)::bigint AS t, e.kind,
       e.lon, e.lat, e.magnitude, e.speed_mps
FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) WITH ORDINALITY AS s(vehicle_id, starts_at, ends_at, ord)
JOIN events e ON e.vehicle_id = s.vehicle_id AND e.ts >= s.starts_at AND e.ts < s.ends_at
ORDER BY s.ord, e.ts
"""
# What the rollup writes (its results, blocks, queue, crew bits and run marks): emptied, a loaded
# database is as a fresh load leaves it, and `--reuse NAME --first` measures a first rollup.
EMPTY_RESULTS = """
TRUNCATE shift_metrics, shift_events, shift_tracks, cell_exposure, segment_exposure, cell_daily, cell_weekly,
         segment_daily, segment_weekly, exposure_stale_days, known_hotspots, whatif_legs, whatif_stop_visits,
         whatif_prepared, rollup_queue, person_bits;
DELETE FROM fleetpilot_meta WHERE key IN ('rollup_timezone', 'hotspot_blocks_version', 'known_hotspots_basis');
"""
YEAR_SHIFTS = 2000 * 365  # a 2,000-truck fleet, one shift per truck and day


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fleetpilot bench rollup", description=__doc__.splitlines()[0])
    parser.add_argument("--trucks", type=int, default=200)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch", type=int, default=50, help="shifts per batch (the rollup's --batch)")
    parser.add_argument("--workers", type=int, default=1, help="rollup workers (the rollup's --workers)")
    parser.add_argument("--no-kernel", dest="kernel", action="store_false", help="skip the kernel limit")
    parser.add_argument("--batch-vehicles", type=int, default=5, help="vehicles simulated and loaded at a time")
    parser.add_argument("--database-url", help="admin URL (default: FLEETPILOT_DATABASE_URL or the embedded server)")
    parser.add_argument(
        "--reuse",
        metavar="NAME",
        help="roll up this already loaded database again (--all): a recompute, which writes only rows that "
        "changed (nothing, on the same code), unless --first",
    )
    parser.add_argument(
        "--first",
        action="store_true",
        help="with --reuse: empty the rollup's results first, so the run is a first rollup, as after a fresh load",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (its name is printed)")
    args = parser.parse_args(argv)
    if args.first and not args.reuse:
        parser.error("--first empties the results of a --reuse database (a fresh load is a first rollup already)")
    admin_url = args.database_url or resolve_database_url(Settings())
    print(json.dumps(asyncio.run(_bench(args, admin_url)), indent=2))
    return 0


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip() if Path("/proc/loadavg").exists() else ""


async def _bench(args: argparse.Namespace, admin_url: str) -> dict:
    async with scratch_database(admin_url, "fpbench_rollup", args.reuse, args.keep) as (name, url):
        report: dict = {"benchmark": "rollup", "database": name, "cpus": os.cpu_count()}
        conn = await connect(url)
        try:
            if not args.reuse:
                report["dataset"] = await load_fleet(conn, args.trucks, args.days, args.seed, args.batch_vehicles)
            elif args.first:
                await conn.execute(EMPTY_RESULTS)
            # Built once per street network, as the first rollup after an import does (decision
            # 0039), so the run below is a city's everyday rollup: it loads the stored index.
            began = time.perf_counter()
            built = await prepare_street_index(conn)
            report["street_index"] = {"built": built, "s": round(time.perf_counter() - began, 2)}
            report["rollup_is"] = "recompute" if args.reuse and not args.first else "first"
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()
        report["end_to_end"] = run_rollup_process(url, args.batch, args.workers)
        if args.kernel:
            report["limit"] = await measure_limit(url, args.batch)
        report.update(_summary(report))
    report["kept"] = bool(args.keep or args.reuse)
    return report


def run_rollup_process(url: str, batch: int, workers: int) -> dict:
    """`fleetpilot rollup --all` as a child process: its report, wall seconds and peak RSS."""
    env = os.environ | {"FLEETPILOT_DATABASE_URL": url, "FLEETPILOT_ROLLUP_DATABASE_URL": url}
    command = [
        sys.executable,
        "-c",
        "from fleetpilot.cli import main; main()",
        "rollup",
        "--all",
        "--batch",
        str(batch),
    ]
    if workers > 1:
        command += ["--workers", str(workers)]
    load = loadavg()
    cpu_before = _children_cpu()
    began = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = child.communicate()
    wall = time.perf_counter() - began
    # The finished child's resource usage (ru_maxrss in KiB on Linux): only its own peak.
    # communicate() has reaped it, so the children's totals are read as a difference.
    usage = _children_usage()
    cpu = _children_cpu() - cpu_before
    if child.returncode != 0:
        raise RuntimeError(f"rollup failed ({child.returncode}): {err.decode()[-2000:]}")
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    return {
        "command": " ".join(["fleetpilot", *command[3:]]),
        "wall_s": round(wall, 2),
        "report": json.loads(lines[-1]) if lines else None,
        "peak_rss_mb": round(usage / 1024, 1),
        "cpu_s": round(cpu, 2),  # the rollup process's user + system CPU, imports included
        "loadavg_before": load,
        "loadavg_after": loadavg(),
    }


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _children_usage() -> float:
    import resource

    return float(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


async def measure_limit(url: str, batch: int) -> dict:
    """Binary COPY out of every shift's fixes, then the pure kernels on exactly those rows."""
    from fleetpilot.analytics.columns import DeviceEvents, Fixes
    from fleetpilot.analytics.pipeline import analyse
    from fleetpilot.rollup.job import PLANNED_SEGMENTS, load_city

    conn = await connect(url)
    try:
        await conn.execute(NO_JIT)
        shifts = await conn.fetch(SHIFTS)
        args = ([s["vehicle_id"] for s in shifts], [s["starts_at"] for s in shifts], [s["ends_at"] for s in shifts])
        copy_load = loadavg()
        began = time.perf_counter()
        cols, size = await copy_columns(conn, BATCH_FIXES, *args, columns=FIX_WIRE)
        copy_s = time.perf_counter() - began
        order = np.lexsort((cols["t"], cols["track"]))  # (shift, time), not timed: the kernel's input
        cols = {k: v[order] for k, v in cols.items()}
        n = len(cols["t"])
        event_rows = await conn.fetch(EVENTS, *args)
        city = await load_city(conn)
        planned = {(r["route_id"], r["version"]): list(r["segments"]) for r in await conn.fetch(PLANNED_SEGMENTS)}
        legs = await _legs_inputs(conn, shifts)
    finally:
        await conn.close()
    if city is None:
        raise RuntimeError("no streets in the scratch database")
    ev: dict[str, np.ndarray] = {
        "vehicle": np.array([r["track"] for r in event_rows], dtype=np.int32),
        "t": np.array([r["t"] for r in event_rows], dtype=np.int64),
        "kind": np.array([r["kind"] for r in event_rows], dtype=str),
        **{
            k: np.array([np.nan if r[c] is None else r[c] for r in event_rows], dtype=np.float64)
            for k, c in (("lon", "lon"), ("lat", "lat"), ("mag", "magnitude"), ("speed", "speed_mps"))
        },
    }
    kernel_load = loadavg()
    analyse_cpu = 0.0
    track = cols["track"]
    for lo in range(0, len(shifts), batch):
        hi = min(lo + batch, len(shifts))
        a, b = np.searchsorted(track, [lo, hi])
        present = np.unique(track[a:b])
        if not len(present):
            continue
        # Tracks renumbered 0.. within the batch, as the rollup's batch query numbers them.
        sub = {k: v[a:b] for k, v in cols.items() if k != "track"} | {"vehicle": track[a:b] - lo}
        e0, e1 = np.searchsorted(ev["vehicle"], [lo, hi])
        dev = {k: v[e0:e1] for k, v in ev.items()} | {"vehicle": ev["vehicle"][e0:e1] - lo}
        batch_shifts = [shifts[int(i)] for i in present]
        windows = np.array(
            [[int(s["starts_at"].timestamp() * 1000), int(s["ends_at"].timestamp() * 1000)] for s in batch_shifts],
            dtype=np.int64,
        )
        plans = [planned.get((s["route_id"], s["route_version"])) for s in batch_shifts]
        cpu = time.process_time()
        fixes = Fixes.from_columns(sub)
        device = DeviceEvents.from_columns(dev)
        analyse(fixes, city, plans, windows=windows, device=device)
        analyse_cpu += time.process_time() - cpu
    legs_cpu = _legs_kernel(legs, shifts, cols)
    return {
        "fixes": n,
        "shifts": len(shifts),
        "copy_out": {
            "seconds": round(copy_s, 3),
            "fixes_per_s": round(n / copy_s) if copy_s else None,
            "megabytes": round(size / 2**20, 1),
            "loadavg": copy_load,
        },
        "kernel": {
            "analyse_cpu_s": round(analyse_cpu, 3),
            "whatif_legs_cpu_s": round(legs_cpu, 3),
            "cpu_s": round(analyse_cpu + legs_cpu, 3),
            "fixes_per_s": round(n / (analyse_cpu + legs_cpu)) if analyse_cpu + legs_cpu else None,
            "loadavg": kernel_load,
        },
    }


async def _legs_inputs(conn, shifts) -> tuple:
    from fleetpilot.rollup.whatif.load import load_city, load_plans

    if not shifts:
        return None, None, []
    city = await load_city(conn, index=True)
    plans = await load_plans(conn, city, shifts[0]["starts_at"], shifts[-1]["starts_at"])
    events = await conn.fetch(
        """SELECT s.ord::int - 1 AS track, (extract(epoch FROM e.ts) * 1000)::bigint AS t, e.kind
        FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) WITH ORDINALITY AS s(vehicle_id, a, b, ord)
        JOIN events e ON e.vehicle_id = s.vehicle_id AND e.ts >= s.a AND e.ts < s.b ORDER BY s.ord, e.ts""",
        [s["vehicle_id"] for s in shifts],
        [s["starts_at"] for s in shifts],
        [s["ends_at"] for s in shifts],
    )
    return city, plans, events


def _legs_kernel(inputs, shifts, cols) -> float:
    """CPU seconds of the what-if leg kernel (prepare_shift) over every shift's fixes."""
    from fleetpilot.analytics.columns import DeviceEvents, Fixes
    from fleetpilot.analytics.whatif.assemble import plan_index, prepare_shift

    city, plans, events = inputs
    if city is None:
        return 0.0
    ev_track = np.array([r["track"] for r in events], dtype=np.int32)
    ev_t = np.array([r["t"] for r in events], dtype=np.int64)
    ev_kind = np.array([r["kind"] for r in events], dtype=str)
    bounds = np.searchsorted(cols["track"], np.arange(len(shifts) + 1))
    ebounds = np.searchsorted(ev_track, np.arange(len(shifts) + 1))
    total = 0.0
    for i, shift in enumerate(shifts):
        a, b = bounds[i], bounds[i + 1]
        e0, e1 = ebounds[i], ebounds[i + 1]
        cpu = time.process_time()
        fixes = Fixes.from_columns(
            {k: cols[k][a:b] for k in ("t", "lon", "lat", "speed", "heading", "hdop")}
            | {"vehicle": np.zeros(b - a, dtype=np.int32)}
        )
        device = DeviceEvents.from_columns(
            {"vehicle": np.zeros(e1 - e0, dtype=np.int32), "t": ev_t[e0:e1], "kind": ev_kind[e0:e1]}
        )
        prepare_shift(city, plans, plan_index(plans, shift["route_id"], shift["route_version"]), fixes, device)
        total += time.process_time() - cpu
    return total


def _summary(report: dict) -> dict:
    e2e = report["end_to_end"]
    run = e2e["report"] or {}
    seconds = run.get("seconds") or e2e["wall_s"]
    shifts = run.get("shifts", 0)
    fixes = run.get("fixes", 0)
    out: dict = {
        "fixes_per_s": round(fixes / seconds) if seconds else None,
        "shifts_per_s": round(shifts / seconds, 2) if seconds else None,
        "stages_s": run.get("stages_s"),
        "stages_cpu_s": run.get("stages_cpu_s"),
        "rollup_cpu_s": e2e.get("cpu_s"),
        "whatif_legs_s_per_shift": round(run["stages_s"]["whatif_legs"] / shifts, 4)
        if shifts and "whatif_legs" in (run.get("stages_s") or {})
        else None,
        "whatif_legs_cpu_s_per_shift": round(run["stages_cpu_s"]["whatif_legs"] / shifts, 4)
        if shifts and "whatif_legs" in (run.get("stages_cpu_s") or {})
        else None,
        "peak_rss_mb": e2e["peak_rss_mb"],
    }
    limit = report.get("limit")
    if limit:
        slower = max(limit["copy_out"]["seconds"], limit["kernel"]["cpu_s"])
        out["limit_s"] = round(slower, 3)
        out["limit_is"] = "copy_out" if limit["copy_out"]["seconds"] >= limit["kernel"]["cpu_s"] else "kernel"
        out["ratio_limit_to_end_to_end"] = round(slower / seconds, 3) if seconds else None
        out["end_to_end_over_limit"] = round(seconds / slower, 2) if slower else None
    per_hour = shifts / seconds * 3600 if seconds else 0
    out["backfill"] = {
        "shifts_per_hour": round(per_hour),
        "days_for_2000_truck_year": round(YEAR_SHIFTS / per_hour / 24, 2) if per_hour else None,
        "workers": run.get("workers", 1),
    }
    return out
