"""fleetpilot bench api: read latency of the main endpoints under concurrent load, as JSON.

A simulator month (default 50 trucks × 30 days, 1 Hz) is loaded into a scratch database
the way the ingest stores it (``fleetpilot.simload``), the rollup job computes its
rollups, and `fleetpilot api` is started as its own process on a loopback port. A
closed-loop load generator (``loadgen``) then keeps `--clients` requests in flight per
endpoint and reports requests/s and p50/p95/p99 latency. Nothing is asserted; the
figures are printed (`targets` says, for every interactive endpoint, whether its p95 was under
100 ms). Requests ask for gzip as browsers do (`--no-gzip`: uncompressed answers).

Loading a month takes minutes; `--keep` leaves the database and prints its name, and
`--reuse NAME` measures an already loaded one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import orjson
import psutil
import uvloop

from fleetpilot.api.auth.passwords import hash_password
from fleetpilot.api.auth.tokens import TokenKeys, issue_access_token
from fleetpilot.db.connect import connect, resolve_database_url
from fleetpilot.settings import Settings
from fleetpilot_bench.fleet import scratch_database
from fleetpilot_bench.loadgen import post_bytes, request_bytes, run_load

TARGET_P95_MS = 100.0
# Aggregates over a month of exposure rows: seconds per request, asked by a few analysts at a time.
HEAVY = {"all_routes_efficiency_30d", "hotspot_segments_30d", "hotspot_cells_30d"}
# A supervisor's edits on the plans page, one after another (issue 21: "every edit shows, within
# a second, each touched route's predicted figures"): one client, its own target.
EDITS = {"route_plan_predict"}
TARGET_EDIT_P95_MS = 1000.0
EDIT_REQUESTS = 40
CURRENT_PLANS = """
SELECT r.route_id, array_agg(s.segment_id ORDER BY s.seq) FILTER (WHERE s.service) AS segments,
       (SELECT count(*) FROM route_stops st WHERE st.route_id = r.route_id AND st.version = r.current_version) AS stops
FROM routes r JOIN route_segments s ON s.route_id = r.route_id AND s.version = r.current_version
GROUP BY r.route_id ORDER BY r.route_id
"""
BENCH_PASSWORD = "bench-password-" + secrets.token_hex(4)
INSERT_USER = """
INSERT INTO users (username, password_hash, role, person_id) VALUES ($1, $2, $3, $4)
ON CONFLICT (username) DO UPDATE SET disabled = false RETURNING user_id
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fleetpilot bench api", description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=50)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--clients", type=int, default=50, help="requests in flight (closed loop)")
    parser.add_argument("--requests", type=int, default=2000, help="requests per main endpoint")
    parser.add_argument(
        "--heavy-clients",
        type=int,
        default=5,
        help="requests in flight for the month-long hotspot and all-route aggregates (analysts' "
        "pages, seconds per request); each gets 4 rounds",
    )
    parser.add_argument("--only", help="comma-separated endpoint names to measure (default: all)")
    parser.add_argument(
        "--gzip",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="ask for gzip-compressed answers, as every browser does (--no-gzip: uncompressed)",
    )
    parser.add_argument("--workers", type=int, help="API server processes (default: settings.api_workers)")
    parser.add_argument(
        "--pool-size", type=int, help="database connections of each server process (default: settings.api_pool_size)"
    )
    parser.add_argument("--batch-vehicles", type=int, default=5, help="vehicles simulated and loaded at a time")
    parser.add_argument(
        "--database-url",
        help="admin URL of the server to create the scratch database on "
        "(default: FLEETPILOT_DATABASE_URL or the embedded server)",
    )
    parser.add_argument("--reuse", metavar="NAME", help="measure this already loaded database")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (its name is printed)")
    args = parser.parse_args(argv)
    settings = Settings()
    args.workers = args.workers or settings.api_workers
    args.pool_size = args.pool_size or settings.api_pool_size
    admin_url = args.database_url or resolve_database_url(settings)
    # uvloop: the load generator runs in this process and shares the cores with the server.
    print(json.dumps(uvloop.run(_bench(args, admin_url)), indent=2))
    return 0


async def _bench(args: argparse.Namespace, admin_url: str) -> dict:
    async with scratch_database(admin_url, "fpbench_api", args.reuse, args.keep) as (name, url):
        report: dict = {"database": name}
        conn = await connect(url)
        try:
            if not args.reuse:
                report["dataset"] = await _load_month(conn, url, args)
            report["dataset_in_database"] = await _describe(conn)
            users = await _bench_users(conn)
            plan = await _plan(conn, users, args)
        finally:
            await conn.close()
        report.update(await _measure(url, plan, args))
    report["kept"] = bool(args.keep or args.reuse)
    return report


async def _load_month(conn: asyncpg.Connection, url: str, args: argparse.Namespace) -> dict:
    """Simulate the fleet a few vehicles at a time, load each batch, then roll everything up."""
    from fleetpilot.rollup.job import run_rollup
    from fleetpilot_bench.fleet import load_fleet

    loaded = await load_fleet(conn, args.vehicles, args.days, args.seed, args.batch_vehicles)
    clock = time.perf_counter()
    # Its own connection: load_run leaves a jsonb codec on `conn` under which the job's
    # pre-serialised JSON would be stored as a JSON string.
    rollup_conn = await connect(url)
    try:
        await rollup_conn.set_type_codec("jsonb", encoder=_json_without_nan, decoder=orjson.loads, schema="pg_catalog")
        rollup = await run_rollup(rollup_conn)
    finally:
        await rollup_conn.close()
    rollup_s = time.perf_counter() - clock
    # As autovacuum leaves a database in service: the loader's upserts left ~8 dead versions
    # per crew row, so a person's shifts read ~150 heap blocks instead of an index-only scan
    # (EXPLAIN (ANALYZE, BUFFERS) of the shift list on the month, 6 Dec).
    await conn.execute("VACUUM (ANALYZE)")
    return {**loaded, "rolled_up_shifts": rollup.shifts, "rollup_s": round(rollup_s, 1)}


def _json_without_nan(text: str) -> str:
    """The rollup job's JSON text with NaN (which PostgreSQL's jsonb refuses) as null.

    A workaround: the job serialises event contexts with json.dumps, which writes NaN for
    an undefined value; reported to the job's owner.
    """
    return orjson.dumps(json.loads(text)).decode()


async def _describe(conn: asyncpg.Connection) -> dict:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM shifts) AS shifts, (SELECT count(*) FROM shift_metrics) AS shift_metrics, "
        "(SELECT count(*) FROM cell_exposure) AS cell_exposure_rows, "
        "(SELECT count(*) FROM segment_exposure) AS segment_exposure_rows, "
        "(SELECT count(DISTINCT person_id) FROM shift_crew) AS people, "
        "(SELECT min(day) FROM shift_metrics) AS first_day, (SELECT max(day) FROM shift_metrics) AS last_day"
    )
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in dict(row).items()}


async def _bench_users(conn: asyncpg.Connection) -> dict[str, list[tuple[int, str | None]]]:
    """A driver account for every crew member, one supervisor (user_id, person_id) — one hash for all."""
    password_hash = await hash_password(BENCH_PASSWORD)
    people = [r["person_id"] for r in await conn.fetch("SELECT DISTINCT person_id FROM shift_crew ORDER BY 1")]
    drivers = [(await conn.fetchval(INSERT_USER, f"bench-{p}", password_hash, "driver", p), p) for p in people]
    supervisor = await conn.fetchval(INSERT_USER, "bench-supervisor", password_hash, "supervisor", None)
    officer = await conn.fetchval(INSERT_USER, "bench-data-officer", password_hash, "data_officer", None)
    return {"driver": drivers, "supervisor": [(supervisor, None)], "data_officer": [(officer, None)]}


async def _plan(conn: asyncpg.Connection, users: dict, args: argparse.Namespace) -> dict:
    """Per endpoint: the role and the paths to request (random but reproducible)."""
    rng = random.Random(args.seed)
    last_day = await conn.fetchval("SELECT max(day) FROM shift_metrics") or datetime.now(timezone.utc).date()
    month = f"from={last_day - timedelta(days=29)}&to={last_day + timedelta(days=1)}"
    own: dict[str, list[str]] = {}
    for r in await conn.fetch("SELECT c.person_id, c.shift_id FROM shift_crew c JOIN shift_metrics m USING (shift_id)"):
        own.setdefault(r["person_id"], []).append(r["shift_id"])
    drivers = [(uid, person) for uid, person in users["driver"] if person in own]
    routes = [
        r["route_id"]
        for r in await conn.fetch("SELECT DISTINCT route_id FROM shift_metrics WHERE route_id IS NOT NULL")
    ]
    n, heavy = args.requests, 4 * args.heavy_clients

    def driver_paths(count: int, path) -> list[tuple[int, str]]:
        picks = [drivers[rng.randrange(len(drivers))] for _ in range(count)]
        return [(uid, path(person)) for uid, person in picks]

    supervisor = users["supervisor"][0][0]
    plan = {
        "driver_shift_view": ("driver", driver_paths(n, lambda p: f"/api/v1/me/shifts/{rng.choice(own[p])}")),
        "driver_track": ("driver", driver_paths(n, lambda p: f"/api/v1/me/shifts/{rng.choice(own[p])}/track")),
        "driver_shift_list": ("driver", driver_paths(n, lambda p: f"/api/v1/me/shifts?{month}")),
        # As the crew page asks it (driver.js: no weeks, so the API's default 12).
        "driver_trends": ("driver", driver_paths(n, lambda p: "/api/v1/me/trends")),
        "route_efficiency_30d": (
            "supervisor",
            [(supervisor, f"/api/v1/routes/{rng.choice(routes)}/efficiency?{month}") for _ in range(n)],
        ),
        "all_routes_efficiency_30d": ("supervisor", [(supervisor, f"/api/v1/efficiency/routes?{month}")] * heavy),
        "live_vehicles": ("supervisor", [(supervisor, "/api/v1/live/vehicles")] * n),
        "hotspot_segments_30d": ("supervisor", [(supervisor, f"/api/v1/hotspots/segments?{month}")] * heavy),
        "hotspot_cells_30d": ("supervisor", [(supervisor, f"/api/v1/hotspots/cells?{month}")] * heavy),
        # (Added after the others, so that their random picks stay those of earlier runs.)
        # The rest of what the crew's page asks on load (dashboards/static/js/pages/driver.js,
        # crew-plan.js, shell.js, map.js), beside the shift view, track, list and trends above.
        "driver_plan": ("driver", driver_paths(n, lambda p: "/api/v1/me/plan")),
        "driver_access_log": ("driver", driver_paths(n, lambda p: "/api/v1/me/access-log")),
        "driver_complaints": ("driver", driver_paths(n, lambda p: "/api/v1/me/complaints")),
        "driver_fixed_hazards": ("driver", driver_paths(n, lambda p: "/api/v1/hazards/fixed")),
        "driver_city_layer": ("driver", driver_paths(n, lambda p: "/api/v1/city")),
        "driver_who_am_i": ("driver", driver_paths(n, lambda p: "/api/v1/auth/me")),
        # The coverage page's other reads of one route (beside its efficiency above).
        "route_coverage_30d": (
            "supervisor",
            [(supervisor, f"/api/v1/routes/{rng.choice(routes)}/coverage?{month}") for _ in range(n)],
        ),
        "route_plan_geojson": (
            "supervisor",
            [(supervisor, f"/api/v1/routes/{rng.choice(routes)}/plan.geojson") for _ in range(n)],
        ),
    }
    plan["route_plan_predict"] = ("supervisor", await _edits(conn, rng, supervisor, month))
    wanted = set(args.only.split(",")) if args.only else set(plan)
    return {name: paths for name, paths in plan.items() if name in wanted}


async def _edits(conn: asyncpg.Connection, rng: random.Random, supervisor: int, month: str) -> list[tuple]:
    """What the plans page posts after each edit: a block of 5-15 streets moved from the end of
    one route to the end of another, both routes' edited plans (stops in proportion)."""
    plans = [r for r in await conn.fetch(CURRENT_PLANS) if r["segments"] and len(r["segments"]) > 20]
    edits = []
    for _ in range(EDIT_REQUESTS if len(plans) > 1 else 0):
        a, b = rng.sample(plans, 2)
        block = rng.randint(5, 15)
        moved, kept = a["segments"][-block:], a["segments"][:-block]
        share = block / len(a["segments"])
        body = {
            "routes": [
                {"route_id": a["route_id"], "segments": kept, "stops": round(a["stops"] * (1 - share))},
                {
                    "route_id": b["route_id"],
                    "segments": b["segments"] + moved,
                    "stops": b["stops"] + round(a["stops"] * share),
                },
            ]
        }
        edits.append((supervisor, f"/api/v1/routes/predict?{month}", orjson.dumps(body)))
    return edits


def _http_stack() -> str:
    """What uvicorn's 'auto' settings pick here (httptools and uvloop when installed)."""
    from importlib.util import find_spec

    return ("httptools" if find_spec("httptools") else "h11") + "+" + ("uvloop" if find_spec("uvloop") else "asyncio")


def _cpu_s(process: psutil.Process) -> float:
    """User + system CPU seconds of the API process and its workers."""
    total = 0.0
    for proc in (process, *process.children(recursive=True)):
        times = proc.cpu_times()
        total += times.user + times.system
    return total


def _backend_cpu_s(server: psutil.Process, db_port: int) -> dict[int, float]:
    """CPU seconds per PostgreSQL backend serving the API server's connections (found by the
    client ports in their process titles, so other users of the database are not counted)."""
    ports = {
        f"({c.laddr.port})"
        for proc in (server, *server.children(recursive=True))
        for c in proc.net_connections(kind="tcp")
        if c.raddr and c.raddr.port == db_port
    }
    cpu = {}
    for proc in psutil.process_iter(["name", "cmdline"]):
        title = " ".join(proc.info["cmdline"] or [])
        if proc.info["name"] == "postgres" and any(port in title for port in ports):
            try:
                times = proc.cpu_times()
                cpu[proc.pid] = times.user + times.system
            except psutil.Error:
                pass
    return cpu


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(url: str, port: int, secret: str, args: argparse.Namespace, data_dir: str) -> subprocess.Popen:
    """`fleetpilot api` on `port`; its output goes to data_dir/api.log (a pipe nobody reads
    would fill up and block the server's logging)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETPILOT_")}
    env.update(FLEETPILOT_DATABASE_URL=url, FLEETPILOT_JWT_SECRET=secret, FLEETPILOT_DATA_DIR=data_dir)
    log = open(Path(data_dir) / "api.log", "w")  # noqa: SIM115 (the server process writes it)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fleetpilot.cli",
            "api",
            "--port",
            str(port),
            "--no-migrate",
            "--workers",
            str(args.workers),
            "--pool-size",
            str(args.pool_size),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()  # the server holds its own descriptor
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"fleetpilot api exited at start: {Path(log.name).read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return server
        except OSError:
            time.sleep(0.3)
    server.terminate()
    raise RuntimeError("fleetpilot api did not answer /health within 120 s")


async def _measure(url: str, plan: dict, args: argparse.Namespace) -> dict:
    secret = secrets.token_urlsafe(32)
    keys = TokenKeys(secret, timedelta(hours=4))
    tokens: dict[int, str] = {}

    def token(user_id: int, role: str) -> str:
        if user_id not in tokens:
            tokens[user_id] = issue_access_token(keys, user_id, role)[0]
        return tokens[user_id]

    port = _free_port()
    db_port = urlsplit(url).port or 5432
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="fleetpilot-bench-") as data_dir:
        server = _start_server(url, port, secret, args, data_dir)
        try:
            results = {}
            process = psutil.Process(server.pid)
            for name, (role, paths) in plan.items():
                clients = 1 if name in EDITS else args.heavy_clients if name in HEAVY else args.clients
                requests = [
                    post_bytes(p[1], token(p[0], role), p[2])
                    if len(p) == 3
                    else request_bytes(p[1], token(p[0], role), gzip=args.gzip)
                    for p in paths
                ]
                await run_load("127.0.0.1", port, requests[: clients * 2], clients)  # warm-up
                cpu_before, db_before = _cpu_s(process), _backend_cpu_s(process, db_port)
                results[name] = {"clients": clients, **(await run_load("127.0.0.1", port, requests, clients)).summary()}
                # CPU the API process and its database backends spent per request: comparable
                # across runs on a busy machine, where latency also depends on what else runs.
                db_after = _backend_cpu_s(process, db_port)
                results[name]["server_cpu_ms_per_request"] = round(
                    (_cpu_s(process) - cpu_before) * 1000 / len(requests), 3
                )
                results[name]["database_cpu_ms_per_request"] = round(
                    sum(cpu - db_before.get(pid, 0.0) for pid, cpu in db_after.items()) * 1000 / len(requests), 3
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
        server_log = (Path(data_dir) / "api.log").read_text()
    targets = {
        f"{name}_p95_under_{TARGET_P95_MS:g}_ms": (
            results[name]["p95_ms"] is not None
            and results[name]["p95_ms"] < TARGET_P95_MS
            and results[name]["errors"] == 0
        )
        for name in results
        if name not in HEAVY | EDITS  # every interactive read (issue 22, item 5)
    }
    for name in EDITS & set(results):
        targets[f"{name}_p95_under_{TARGET_EDIT_P95_MS:g}_ms"] = (
            results[name]["p95_ms"] is not None
            and results[name]["p95_ms"] < TARGET_EDIT_P95_MS
            and results[name]["errors"] == 0
        )
    return {
        "clients": args.clients,
        "heavy_clients": args.heavy_clients,
        "gzip": args.gzip,
        "server": {
            "workers": args.workers,
            "pool_size": args.pool_size,
            "http": _http_stack(),
        },
        # Other work on the machine shares its cores: latencies are only comparable at similar load.
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1m_before": round(load_before, 2),
            "load_average_1m_after": round(os.getloadavg()[0], 2),
        },
        "endpoints": results,
        "targets": targets,
        "server_errors_logged": server_log.count("Exception in ASGI application"),
    }
