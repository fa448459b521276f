"""fleetpilot rollup: compute per-shift analytics rollups (pending and stale shifts)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta

import uvloop

from fleetpilot.db.connect import connect, resolve_database_url, service_database_url
from fleetpilot.localtime import today as local_today
from fleetpilot.rollup.job import Drained, drain, run_rollup
from fleetpilot.rollup.progress import Progress
from fleetpilot.rollup.queue import LEASE_S
from fleetpilot.rollup.queue import size as queue_size
from fleetpilot.rollup.upkeep import upkeep
from fleetpilot.settings import Settings

HELP = "compute rollups for ended shifts that have none and for shifts late data made stale"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--all", action="store_true", help="recompute every ended shift, not only pending ones")
    parser.add_argument(
        "--every",
        type=float,
        metavar="SECONDS",
        help="keep running, once every SECONDS; each run also creates the day partitions ahead "
        "(FLEETPILOT_PARTITIONS_AHEAD_DAYS), applies retention when it last ran a day ago, and writes the "
        "weekly open-data release when a week has ended (FLEETPILOT_RELEASE_WEEKS; 0 = none)",
    )
    parser.add_argument("--batch", type=int, default=50, help="shifts analysed per batch (default 50)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes computing the queue side by side (default 1); runs on other machines "
        "against the same database share it too (claimed with SKIP LOCKED, docs/decisions/0018)",
    )
    parser.add_argument(
        "--lease",
        type=float,
        default=LEASE_S,
        metavar="SECONDS",
        help=f"a claimed batch is taken over by another worker when its holder has not finished it "
        f"within SECONDS (a crashed or stalled worker; default {LEASE_S:.0f})",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        help="with --every: Prometheus /metrics on this port (0 = none; deploy/prometheus expects 9109)",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress on stderr: done/total shifts, rate, ETA (default: on when stderr is a terminal); "
        "an interrupted run leaves its work queued and the next `fleetpilot rollup` continues it",
    )
    parser.add_argument(
        "--no-whatif", dest="whatif", action="store_false", help="do not prepare what-if legs for newly finished shifts"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    url = asyncio.run(service_database_url(settings, "rollup"))  # its least-privilege role (decision 0009)
    # uvloop (uvicorn's loop, already a dependency): asyncpg's reads of a batch's large values
    # cost the default loop's transport ~0.8 s of a fleet-day's CPU (py-spy), in C with uvloop.
    return uvloop.run(_run(url, args, settings))


async def _run(url: str, args: argparse.Namespace, settings: Settings) -> int:
    from fleetpilot.rollup.metrics import RollupMetrics

    metrics = RollupMetrics()
    if args.every and getattr(args, "metrics_port", 0):
        metrics.serve(args.metrics_port)
    while True:
        try:
            report = await _once(url, args, settings, metrics)
        except Exception as exc:
            metrics.runs.labels("error").inc()
            if not args.every:
                raise
            # As a service, a failed run (a database restart, a lock timeout) is retried at
            # the next period instead of ending the service; the alert counts these.
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), file=sys.stderr, flush=True)
            await asyncio.sleep(args.every)
            continue
        metrics.runs.labels("ok").inc()
        metrics.last_success.set(time.time())
        print(json.dumps(report), flush=True)
        if not args.every:
            return 0
        await asyncio.sleep(args.every)


async def _once(url: str, args: argparse.Namespace, settings: Settings, metrics) -> dict:
    """One run: rollups, what-if legs, and (as a service) upkeep and the weekly open-data
    release; returns its report."""
    tz = settings.timezone
    conn = await connect(url)
    writer = await connect(url) if args.workers <= 1 else None  # writes while conn reads (rollup/job.py)
    try:
        started = time.perf_counter()
        kept = None
        if args.every:  # the service keeps storage in shape; a one-off run only rolls up
            # First: storage upkeep (partitions, retention, TimescaleDB's jobs) must not wait on
            # the analytics, which fail e.g. until a street network is imported. TimescaleDB jobs
            # the scheduler fails run as their owner, the migrating role (rollup/tsjobs.py).
            kept = await upkeep(conn, settings.partitions_ahead_days, owner_url=resolve_database_url(settings))
        shown = sys.stderr.isatty() if getattr(args, "progress", None) is None else args.progress
        progress = Progress(sys.stderr, tty=sys.stderr.isatty()) if shown else None
        drainer = None
        if args.workers > 1:

            async def drainer() -> Drained:
                # The worker processes write; this idle connection follows the queue.
                poll = asyncio.ensure_future(_follow_queue(conn, progress)) if progress else None
                try:
                    return await _drain_in_processes(url, args, tz)
                finally:
                    if poll is not None:
                        poll.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await poll

        try:
            result = await run_rollup(
                conn,
                recompute_all=args.all,
                batch_size=args.batch,
                tz=tz,
                whatif=args.whatif,
                lease_s=args.lease,
                drainer=drainer,
                progress=progress.advance if progress else None,
                on_queued=progress.start if progress else None,
                writer=writer,
            )
        finally:
            if progress is not None:
                progress.finish()
        report = {
            "workers": args.workers,
            "shifts": result.shifts,
            "fixes": result.fixes,
            "events": result.events,
            "stale_marks_cleared": result.cleared_marks,
        }
        stages = dict(result.stages_s)
        if args.whatif:  # the rollup's batches prepared theirs; this one does the rest, and purges
            began = time.perf_counter()
            report["whatif_legs_shifts"] = result.shifts + await _prepare_whatif(conn, tz)
            stages["whatif_legs"] = stages.get("whatif_legs", 0.0) + time.perf_counter() - began
        report["stages_s"] = {k: round(v, 3) for k, v in stages.items()}
        # CPU of the thread that ran each stage: pipelined stages overlap in wall time.
        report["stages_cpu_s"] = {k: round(v, 3) for k, v in result.stages_cpu_s.items()}
        if kept is not None:
            report["partitions_created"] = kept.partitions_created
            if kept.timescale_jobs_run:
                report["timescaledb_jobs_run"] = list(kept.timescale_jobs_run)
            if kept.retention is not None:
                report["retention_cutoff"] = kept.retention.cutoff.isoformat()
                report["retention_partitions_dropped"] = sum(kept.retention.dropped.values())
        metrics.dirty_marks.set(await conn.fetchval("SELECT count(*) FROM rollup_dirty"))
    finally:
        if writer is not None:
            await writer.close()
        await conn.close()
    if args.every:
        # After the rollups, so the week just ended is complete in it (api/release/schedule.py).
        from fleetpilot.api.release.schedule import release_if_due

        written = await release_if_due(url, settings.data_dir, tz, settings.release_weeks)
        if written is not None:
            report["open_data_release"] = f"{written.scope.start}_{written.scope.end}"
    seconds = time.perf_counter() - started
    metrics.run_seconds.observe(seconds)
    metrics.shifts.inc(result.shifts)
    metrics.whatif_shifts.inc(report.get("whatif_legs_shifts", 0))
    return report | {"seconds": round(seconds, 2)}


async def _follow_queue(conn, progress: Progress) -> None:
    while True:
        await asyncio.sleep(1.0)
        progress.left(await queue_size(conn))


async def _drain_in_processes(url: str, args: argparse.Namespace, tz: str) -> Drained:
    """The queue computed by --workers processes; their figures summed (stages: CPU-parallel)."""
    loop = asyncio.get_running_loop()
    options = (url, args.batch, tz, args.whatif, args.lease)
    # spawn: a fresh interpreter per worker, nothing inherited from this process's event loop.
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = await asyncio.gather(
            *(loop.run_in_executor(pool, _drain_process, *options) for _ in range(args.workers))
        )
    total = Drained()
    for part in parts:
        total.add(part)
    return total


def _drain_process(url: str, batch: int, tz: str, whatif: bool, lease_s: float) -> Drained:
    async def body() -> Drained:
        conn, writer = await connect(url), await connect(url)
        try:
            return await drain(conn, batch_size=batch, tz=tz, whatif=whatif, lease_s=lease_s, writer=writer)
        finally:
            await writer.close()
            await conn.close()

    return uvloop.run(body())


async def _prepare_whatif(conn, tz: str) -> int:
    """What-if legs for finished shifts within the retention period that have none yet, or whose
    rollup was recomputed since (late data)."""
    from fleetpilot.rollup.whatif.prepare import prepare

    days = await conn.fetchval("SELECT retention_days FROM privacy_settings")
    today = local_today(tz)
    return (await prepare(conn, today - timedelta(days=days), today + timedelta(days=1), tz=tz)).shifts
