"""`fleetpilot bench ingest`: the simulator's fleet through the real broker into the ingest and
PostgreSQL on this machine; prints one JSON object.

What happens:

1. The simulator (fleetsim) simulates the fleet and encodes every message it would publish
   (physics, GPS noise, outages and replays, duplicates), before anything is timed.
2. A fresh database gets the schema and the simulator's city, routes and roster.
3. `fleetpilot ingest` runs as separate process(es) (so its CPU can be measured alone).
4. Publisher processes send the messages through the broker, QoS 1, stamping ``sent`` with
   the wall clock at publish time so the ingest's publish→commit lag is real. "Full speed"
   is closed-loop: publishers run ahead of what the ingest has acknowledged by at most
   `--max-backlog` messages. (Open-loop flooding beyond what the consumer takes is not a
   throughput test: Mosquitto's default queue limit, 1000 messages per client beyond the
   in-flight window, would drop the excess.) `--rate` offers a fixed rate instead.
5. After `--warmup` seconds the measured window of `--duration` seconds starts: stored fixes/s
   and messages/s from the ingest's own counters, lag quantiles from its
   ``fleetpilot_ingest_publish_lag_seconds`` histogram (interpolated within buckets, as
   Prometheus' histogram_quantile does), CPU from the ingest processes' CPU time.
   With ``--dialect traccar-http|owntracks-http`` there is no broker: `fleetpilot api`
   (``--api-workers`` processes) serves ``POST /api/v1/ingest/traccar|owntracks`` and
   publisher processes act as a Traccar server or as the fleet's OwnTracks phones, each with
   its own token (fleetpilot_bench.httppost: one position per request, one request in flight
   per connection, as Traccar's forwarder and the app wait for each answer). The answer comes only after the
   commit, so request sent → answer is the publish → commit lag; fixes/s is counted in
   ``fixes`` itself (each API worker has its own counters).
6. Then, on the same rows (read back from ``fixes``, up to `--copy-rows`), a plain asyncpg COPY
   straight into the emptied ``fixes`` table, in batches of the ingest's batch size, and the
   ratio of the two rates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import numpy as np
import psutil

from fleetpilot.broker import resolve_mqtt_url
from fleetpilot.db.connect import connect, resolve_database_url
from fleetpilot.db.schema import prepare
from fleetpilot.errors import ServiceUnavailable
from fleetpilot.ingest.worker import IngestConfig
from fleetpilot.settings import Settings
from fleetpilot.urls import parse_mqtt_url

SENT_KEY = b'"sent":'
# The other dialects' send times, stamped at publish time like v1's `sent` (same length):
# Traccar's position.serverTime (ISO 8601, 29 characters), OwnTracks' created_at (epoch s).
SERVER_TIME_KEY = b'"serverTime":"'
CREATED_KEY = b'"created_at":'
METRIC = "fleetpilot_ingest_"
DIALECTS = ("traccar-mqtt", "traccar-http", "owntracks", "owntracks-http")
HTTP_PATHS = {"traccar-http": "/api/v1/ingest/traccar", "owntracks-http": "/api/v1/ingest/owntracks"}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="fleetpilot bench ingest", description=__doc__.split("\n")[0])
    p.add_argument("--fixes-per-message", type=int, default=10, help="telemetry batching of the units (default 10)")
    p.add_argument(
        "--dialect",
        choices=("v1", *DIALECTS),
        default="v1",
        help="v1: the units' protocol (default); traccar-mqtt / owntracks: one position per message as a "
        "Traccar server or OwnTracks phones publish them; traccar-http: Traccar's forward.type=json, one "
        "POST per position to `fleetpilot api`; owntracks-http: the app's HTTP mode, one POST per position "
        "with each phone's own token (docs/trackers.md); default --hours 3 for these",
    )
    p.add_argument(
        "--connections",
        type=int,
        default=128,
        help="HTTP dialects: keep-alive connections per publisher, one request in flight each (default 128: "
        "each API worker's group commit then holds ~128 requests while the one before is written; "
        "with 32, a worker idled during every write, and the per-transaction cost was shared by fewer)",
    )
    p.add_argument("--api-workers", type=int, default=2, help="HTTP dialects: `fleetpilot api` processes (default 2)")
    p.add_argument(
        "--vehicles",
        type=int,
        help="fleet size (default: enough data for 5 s warm-up + 60 s at "
        "this machine's full speed: 250 with 10 fixes/message, 30 with 1)",
    )
    p.add_argument("--hours", type=float, help="shift length (default 10; 3 with --dialect traccar-mqtt|owntracks)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--duration", type=float, default=60.0, help="measured window, s (default 60)")
    p.add_argument("--warmup", type=float, default=5.0, help="publishing before the window opens, s (default 5)")
    p.add_argument("--rate", type=float, help="offered messages/s over all publishers (default: full speed)")
    p.add_argument(
        "--max-backlog",
        type=int,
        default=8_000,
        help="full speed: published but not yet acknowledged messages, at most (default 8000: the "
        "closed loop is latency-bound, throughput ~ backlog / publish-to-ack time; Mosquitto "
        "with default limits drops what exceeds the ingest's Receive Maximum (--buffer) by "
        "more than 1000, counted in messages_lost)",
    )
    p.add_argument(
        "--feedback-interval",
        type=float,
        default=0.1,
        metavar="SECONDS",
        help="full speed: how often the ingest's acknowledged count is read to let the publishers "
        "run ahead (default 0.1: the loop is latency-bound; each read costs the ingest ~2 ms "
        "of CPU, included in its CPU figures)",
    )
    p.add_argument("--publishers", type=int, default=2, help="publisher processes (default 2)")
    p.add_argument("--ingest-workers", type=int, default=1, help="ingest processes on a shared subscription")
    p.add_argument(
        "--writers",
        type=int,
        default=IngestConfig.writers,
        help=f"writer connections per ingest process (default {IngestConfig.writers})",
    )
    p.add_argument(
        "--buffer",
        type=int,
        default=IngestConfig.buffer_messages,
        help=f"messages each ingest holds unprocessed, also its MQTT 5 Receive Maximum "
        f"(default {IngestConfig.buffer_messages})",
    )
    p.add_argument(
        "--mqtt-client",
        choices=("fast", "paho"),
        default=IngestConfig.mqtt_client,
        help="the ingest's receive path (default fast; paho = paho's own, for comparison)",
    )
    p.add_argument("--batch-rows", type=int, default=IngestConfig.batch_rows)
    p.add_argument("--batch-wait", type=float, default=IngestConfig.batch_wait_s)
    p.add_argument("--copy-rows", type=int, default=1_000_000, help="rows for the raw COPY comparison (at most)")
    p.add_argument("--keep", action="store_true", help="keep the bench database (its name is printed)")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    settings = Settings()
    admin_url = resolve_database_url(settings)
    mqtt_url = resolve_mqtt_url(settings)
    city = f"bench-{uuid.uuid4().hex[:8]}"
    dialect = args.dialect != "v1"
    vehicles = args.vehicles or (60 if dialect else 250 if args.fixes_per_message >= 10 else 30)
    if args.hours is None:
        args.hours = 3.0 if dialect else 10.0

    t0 = time.perf_counter()
    scenario, messages = simulate(city, vehicles, args)
    sim_s = time.perf_counter() - t0
    db_name = f"fleetpilot_bench_{uuid.uuid4().hex[:8]}"
    db_url = asyncio.run(create_database(admin_url, db_name, settings, scenario, args.dialect))
    log_dir = Path(tempfile.mkdtemp(prefix="fleetpilot-bench-"))
    try:
        if args.dialect in HTTP_PATHS:
            token = asyncio.run(_issue_tokens(db_url, args.dialect))
            server = ApiServer(db_url, city, args, log_dir)
            try:
                result = measure_http(server, token, messages, db_url, mqtt_url, args)
                result["ingest_exit_code"] = server.terminate()
            finally:
                server.close()
        else:
            workers = [IngestProcess(db_url, mqtt_url, city, i, args, log_dir) for i in range(args.ingest_workers)]
            try:
                for w in workers:
                    w.wait_subscribed()
                result = measure(workers, messages, mqtt_url, args)
                for w in workers:
                    result["ingest_exit_code"] = w.terminate()
            finally:
                for w in workers:
                    w.close()
        copy = asyncio.run(raw_copy(db_url, args.copy_rows, args.batch_rows))
    finally:
        if not args.keep:
            asyncio.run(drop_database(admin_url, db_name))
    ingest_rate = result["fixes_per_s"]
    out = {
        "target": "ingest",
        "dialect": args.dialect,
        "fixes_per_message": 1 if dialect else args.fixes_per_message,
        "vehicles": vehicles,
        "messages_prepared": len(messages),
        "simulate_and_encode_s": round(sim_s, 1),
        **result,
        "raw_copy_rows": copy["rows"],
        "raw_copy_rows_per_s": copy["rows_per_s"],
        "raw_copy_load_avg_1m": copy["load_avg_1m"],
        "ratio_to_raw_copy": round(ingest_rate / copy["rows_per_s"], 3) if copy["rows_per_s"] else None,
        "ingest": {
            "workers": args.api_workers if args.dialect in HTTP_PATHS else args.ingest_workers,
            "mqtt_client": args.mqtt_client,
            "writers": args.writers,
            "buffer": args.buffer,
            "batch_rows": args.batch_rows,
            "batch_wait_s": args.batch_wait,
        },
        "publishers": args.publishers,
        "offered_rate": args.rate,
        "machine": {"cpus": os.cpu_count(), "load_avg_1m_at_end": round(os.getloadavg()[0], 2)},
        "database": db_name if args.keep else None,
    }
    print(json.dumps(out))
    return 0


def simulate(city: str, vehicles: int, args) -> tuple[object, list[tuple[str, bytes]]]:
    """The scenario and every (topic, payload) its units publish, in simulated send order.

    Wills (published by the broker when a link drops) are left out: the bench's publishers
    keep their links. Status messages go out without the retain flag, so the bench leaves
    nothing behind on the broker.
    """
    from fleetsim.config import SimConfig
    from fleetsim.messages import Encoder
    from fleetsim.offline import iter_vehicle_days, other_vehicle
    from fleetsim.scenario import build_scenario

    start = datetime.now(timezone.utc) - timedelta(days=1)
    start_ms = int(start.replace(hour=6, minute=0, second=0, microsecond=0).timestamp() * 1000)
    cfg = SimConfig(
        seed=args.seed,
        city=city,
        n_vehicles=vehicles,
        hours=args.hours,
        start_ms=start_ms,
        fixes_per_message=args.fixes_per_message,
    )
    if args.dialect != "v1":
        return _simulate_dialect(cfg, args.dialect)
    sc = build_scenario(cfg)
    stamped: list[tuple[int, int, str, bytes]] = []
    for vd in iter_vehicle_days(sc):
        enc = Encoder(vd.result, vd.schedule, city, other_vehicle(sc, vd.result.shift.vehicle), cfg.seed)
        for pub in enc.publications():
            if not pub.by_broker:
                stamped.append((pub.send_ms, len(stamped), pub.topic, pub.payload))
    stamped.sort()
    return sc, [(topic, payload) for _, _, topic, payload in stamped]


def _simulate_dialect(cfg, dialect: str) -> tuple[object, list[tuple[str, bytes]]]:
    """The fleet as a Traccar server forwards it (traccar/<city>/positions|events) or as OwnTracks
    phones publish it (ot-<city>/<vehicle>/phone: a per-run base, see IngestProcess)."""
    from fleetsim import dialects
    from fleetsim.offline import generate_fleet

    fleet = generate_fleet(config=cfg)
    if dialect.startswith("traccar"):  # the same bodies by HTTP POST (the topic is not used there)
        return fleet.scenario, [(f"traccar/{cfg.city}/{m.channel}", m.body) for m in dialects.traccar_messages(fleet)]
    return fleet.scenario, [
        ("/".join((f"ot-{cfg.city}", *dialects.owntracks_identity(m.vehicle))), m.body)
        for m in dialects.owntracks_messages(fleet)
    ]


async def create_database(admin_url: str, name: str, settings: Settings, scenario, dialect: str = "v1") -> str:
    from fleetpilot.db.importer import import_city, import_roster, import_routes
    from fleetpilot.urls import check_database_url

    conn = await connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = _with_database(check_database_url(admin_url), name)
    conn = await connect(url)
    try:
        await prepare(conn, settings)
        await import_city(conn, scenario.city_geojson())
        await import_routes(conn, scenario.routes_geojson(), created_by="bench")
        await import_roster(conn, scenario.roster.to_json())
        if dialect != "v1":  # the trackers' identities, bound by an admin (docs/trackers.md)
            from fleetsim import dialects

            kind = dialect.split("-")[0]
            await conn.executemany(
                "INSERT INTO devices (device_id, vehicle_id, dialect, external_id) VALUES ($1, $2, $3, $4)",
                [
                    (
                        f"{kind}-{vid}",
                        vid,
                        kind,
                        dialects.traccar_unique_id(v)
                        if kind == "traccar"
                        else "/".join(dialects.owntracks_identity(vid)),
                    )
                    for v, vid in enumerate(scenario.roster.vehicle_ids)
                ],
            )
    finally:
        await conn.close()
    return url


async def drop_database(admin_url: str, name: str) -> None:
    conn = await connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _with_database(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


class IngestProcess:
    """One `fleetpilot ingest` child with its metrics port and log file."""

    def __init__(self, db_url: str, mqtt_url: str, city: str, index: int, args, log_dir: Path):
        self.port = _free_port()
        self.log = log_dir / f"ingest-{index}.log"
        env = {
            **os.environ,
            "FLEETPILOT_DATABASE_URL": db_url,
            "FLEETPILOT_MQTT_URL": mqtt_url,
            "FLEETPILOT_CITY": city,
            # A per-run OwnTracks base: other ingest workers on a shared broker read owntracks/+/+.
            "FLEETPILOT_OWNTRACKS_TOPIC": f"ot-{city}/+/+",
        }
        cmd = [
            sys.executable,
            "-m",
            "fleetpilot.cli",
            "ingest",
            "--worker-id",
            f"bench-{index}",
            "--metrics-port",
            str(self.port),
            "--writers",
            str(args.writers),
            "--buffer",
            str(args.buffer),
            "--batch-rows",
            str(args.batch_rows),
            "--batch-wait",
            str(args.batch_wait),
            "--mqtt-version",
            "5",
            "--mqtt-client",
            args.mqtt_client,
        ]
        if args.ingest_workers == 1:
            cmd += ["--share-group", ""]
        self._out = open(self.log, "wb")  # noqa: SIM115 (the worker process writes it; closed in stop)
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._out, stderr=subprocess.STDOUT)
        self.ps = psutil.Process(self.proc.pid)

    def wait_subscribed(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while '"event":"subscribed"' not in self.log.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise ServiceUnavailable(f"the ingest did not start; see {self.log}")
            time.sleep(0.1)

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as response:
            return response.read().decode()

    def cpu_s(self) -> float:
        t = self.ps.cpu_times()
        return t.user + t.system

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._out.close()


class ApiServer:
    """`fleetpilot api` (uvicorn, `--api-workers` processes) serving the Traccar HTTP door on a
    loopback port; its CPU is the server's processes and their children (the workers)."""

    def __init__(self, db_url: str, city: str, args, log_dir: Path):
        self.port = _free_port()
        self.log = log_dir / "api.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETPILOT_")}
        env.update(
            FLEETPILOT_DATABASE_URL=db_url,
            FLEETPILOT_CITY=city,
            FLEETPILOT_JWT_SECRET=uuid.uuid4().hex * 2,
            FLEETPILOT_DATA_DIR=str(log_dir),
        )
        cmd = [sys.executable, "-m", "fleetpilot.cli", "api", "--port", str(self.port), "--no-migrate"]
        cmd += ["--workers", str(args.api_workers), "--log-level", "info", "--no-access-log"]
        self._out = open(self.log, "wb")  # noqa: SIM115 (the server writes it; closed in close)
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._out, stderr=subprocess.STDOUT)
        self.ps = psutil.Process(self.proc.pid)
        # Every worker serving (one answering /health is not enough: on a loaded machine the
        # other may import for many seconds more, and the window would measure its start).
        deadline = time.monotonic() + 180
        while self.log.read_text().count("Application startup complete") < args.api_workers:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise ServiceUnavailable(f"fleetpilot api did not start; see {self.log}")
            time.sleep(0.3)

    def cpu_s(self) -> float:
        return sum(_cpu_s(p) for p in [self.ps, *self.ps.children(recursive=True)])

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._out.close()


async def _issue_tokens(db_url: str, dialect: str):
    """traccar-http: one token for the bench's Traccar server (as `fleetpilot devices
    traccar-server` issues it); owntracks-http: each phone its own (`devices add … --http-token`),
    as {"<user>/<device>": its Basic Authorization value, user:token as the app sends it}."""
    from fleetpilot.ingest.dialects import tokens
    from fleetpilot_bench.httppost import basic

    conn = await connect(db_url)
    try:
        if dialect == "traccar-http":
            return (await tokens.issue(conn, "traccar", "bench"))[1]
        phones = await conn.fetch("SELECT device_id, external_id FROM devices WHERE dialect = 'owntracks'")
        out = {}
        for phone in phones:
            token = (await tokens.issue(conn, "owntracks", "bench", phone["device_id"]))[1]
            out[phone["external_id"]] = basic(phone["external_id"].split("/")[0], token)
        return out
    finally:
        await conn.close()


async def _count_fixes(db_url: str) -> int:
    conn = await asyncpg.connect(db_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM fixes"))
    finally:
        await conn.close()


def measure_http(server: ApiServer, token, messages: list[tuple[str, bytes]], db_url: str, mqtt_url: str, args):
    """HTTP dialects: publisher processes POST one position per request (closed loop, one
    request in flight per connection); fixes/s from the rows in ``fixes`` (every API worker
    keeps its own counters, and a scrape reaches only one of them); lag = request sent →
    answer, which comes after the commit (quantiles of the requests answered in the window).
    `token`: the Traccar server's, or per OwnTracks phone (keyed by its topic's user/device)."""
    from fleetpilot_bench import httppost

    ctx = mp.get_context("fork")
    start, stop = ctx.Event(), ctx.Event()
    queue = ctx.Queue()
    if isinstance(token, str):
        bodies = [payload for _, payload in messages]
    else:
        bodies = [(topic.split("/", 1)[1], payload) for topic, payload in messages]
    procs = [
        ctx.Process(
            target=httppost.run,
            args=(
                "127.0.0.1",
                server.port,
                HTTP_PATHS[args.dialect],
                token,
                bodies[i :: args.publishers],
                args.connections,
                start,
                stop,
                queue,
            ),  # fmt: skip
            daemon=True,
        )
        for i in range(args.publishers)
    ]
    for p in procs:
        p.start()
    publishers = [psutil.Process(p.pid) for p in procs]
    time.sleep(1.0)
    start.set()
    others = CpuSplit(parse_mqtt_url(mqtt_url).port)
    db_name = db_url.rsplit("/", 1)[1]

    def snapshot() -> dict:
        return {
            "at": time.monotonic(),
            "fixes": asyncio.run(_count_fixes(db_url)),
            "cpu": server.cpu_s(),
            "pub_cpu": sum(_cpu_s(p) for p in publishers),
            "split": others.read(),
            "backends": _backends_cpu_s(db_name),
        }

    time.sleep(args.warmup)
    load_at_start = os.getloadavg()[0]
    first = snapshot()
    time.sleep(args.duration)
    last = snapshot()
    exhausted = not any(p.is_alive() for p in procs)
    stop.set()
    results = [queue.get(timeout=120) for _ in procs]  # before join: a child blocks until its put is read
    for p in procs:
        p.join(60)
    sent = sum(n for n, _ in results)
    rows = np.concatenate([r for _, r in results]) if results else np.zeros((0, 3))
    ok = int(rows[:, 2].sum())
    stored = asyncio.run(_count_fixes(db_url))
    window = last["at"] - first["at"]
    inside = rows[(rows[:, 0] >= first["at"]) & (rows[:, 0] <= last["at"])]
    answered = len(inside)
    lag = {f"p{q}": round(float(np.percentile(inside[:, 1], q)), 3) if answered else None for q in (50, 95, 99)}
    cpu = last["cpu"] - first["cpu"]
    pub_cpu = last["pub_cpu"] - first["pub_cpu"]
    db_cpu = sum(t - first["backends"].get(pid, 0.0) for pid, t in last["backends"].items())
    return {
        "window_s": round(window, 1),
        "load_avg_1m_at_window_start": round(load_at_start, 2),
        "publisher_ran_out_of_data": exhausted,
        "fixes_per_s": round((last["fixes"] - first["fixes"]) / window),
        "messages_per_s": round(answered / window),
        "published_messages_per_s": round(answered / window),
        # Sent → answered (HTTP 200 comes only after the commit): the publish → commit lag.
        "lag_publish_to_commit_s": lag,
        # Requests share group commits, but each API worker keeps its own histogram and a
        # scrape reaches one of them: the answer lag above covers it.
        "batch_oldest_receive_to_commit_s": None,
        "ingest_cpu_percent": round(100 * cpu / window, 1),
        "ingest_cpu_us_per_message": _per(1e6 * cpu, answered),
        "fixes_per_ingest_cpu_second": _per(last["fixes"] - first["fixes"], cpu),
        "publishers_cpu_percent": round(100 * pub_cpu / window, 1),
        "publishers_cpu_us_per_message": _per(1e6 * pub_cpu, answered),
        # This run's own PostgreSQL backends (the machine's "database" below counts every
        # database on a shared server): with the two above, what a position costs in all,
        # less PostgreSQL's background writers (WAL writer, checkpointer).
        "database_backends_cpu_us_per_message": _per(1e6 * db_cpu, answered),
        "total_cpu_us_per_message": _per(1e6 * (cpu + pub_cpu + db_cpu), answered),
        "cpu_percent_during_window": {
            key: _round_pct(last["split"][key] - first["split"][key], window)
            for key in ("machine", "database", "broker")
        },
        "connections": args.connections * args.publishers,
        "http_non_2xx": len(rows) - ok,
        "messages_published_total": sent,
        "messages_acked_total": ok,
        "messages_lost": sent - ok,
        "fixes_stored_total": stored,
        "drain_s": 0.0,  # every request is answered before its publisher ends
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Snapshot:
    """The ingest counters and CPU at one moment, summed over workers; with `others`, also the
    CPU time of the machine and of its database and broker processes."""

    def __init__(
        self,
        workers: list[IngestProcess],
        published: int,
        publishers: list[psutil.Process] = (),
        others: CpuSplit | None = None,
    ):
        self.at = time.monotonic()
        self.published = published
        texts = [w.metrics() for w in workers]
        self.cpu_s = sum(w.cpu_s() for w in workers)
        self.publisher_cpu_s = sum(_cpu_s(p) for p in publishers)
        self.split = others.read() if others is not None else None
        self.fixes = sum(_sample(t, f"{METRIC}rows_stored_total", 'table="fixes"') for t in texts)
        self.acked = sum(_sample(t, f"{METRIC}messages_acked_total") for t in texts)
        self.received = sum(
            _sample(t, f"{METRIC}messages_received_total", 'channel="telemetry"')
            + _sample(t, f"{METRIC}messages_received_total", 'channel="events"')
            + _sample(t, f"{METRIC}messages_received_total", 'channel="status"')
            for t in texts
        )
        self.lag = _buckets(texts, f"{METRIC}publish_lag_seconds_bucket")
        self.ingest_lag = _buckets(texts, f"{METRIC}commit_latency_seconds_bucket")
        self.batches = sum(_sample(t, f"{METRIC}batch_write_seconds_count") for t in texts)
        self.batch_s = sum(_sample(t, f"{METRIC}batch_write_seconds_sum") for t in texts)
        self.batch_rows = sum(_sample(t, f"{METRIC}batch_rows_sum") for t in texts)
        self.conflicts = sum(_sample(t, f"{METRIC}batch_conflicts_total", 'table="fixes"') for t in texts)


class CpuSplit:
    """Where the machine's CPU goes besides the ingest and the publishers: PostgreSQL (every
    process named postgres: the server, its backends and workers) and the broker (the process
    listening on the MQTT port, when it runs on this machine). A bench on one box measures
    the whole pipeline sharing the same cores; this says who used them."""

    def __init__(self, mqtt_port: int):
        self.broker = _listener(mqtt_port)

    def read(self) -> dict[str, float]:
        machine = psutil.cpu_times()
        busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        # With the children's times: a backend that ends between two reads is reaped by the
        # postmaster, whose children times then hold its CPU, so the sum never goes down (a
        # shared server's connections come and go: without them it fell by up to 1.9 s).
        database = sum(_cpu_s(p, children=True) for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres")
        return {
            "machine": busy,
            "database": database,
            "broker": _cpu_s(self.broker) if self.broker is not None else float("nan"),
        }


def _backends_cpu_s(db_name: str) -> dict[int, float]:
    """CPU seconds per PostgreSQL backend (and autovacuum worker) of database `db_name`, by
    its process title ("postgres: … <user> <database> <client>")."""
    out = {}
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "postgres" and db_name in (proc.info["cmdline"] or [""])[0].split():
            out[proc.pid] = _cpu_s(proc)
    return out


def _listener(port: int) -> psutil.Process | None:
    """The local process listening on TCP `port`, if any (needs the right to see its sockets)."""
    try:
        for c in psutil.net_connections("tcp"):
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
                return psutil.Process(c.pid)
    except (psutil.AccessDenied, psutil.NoSuchProcess):
        pass  # not ours to see: the broker's CPU is then reported as null, not guessed
    return None


def _cpu_s(process: psutil.Process, children: bool = False) -> float:
    try:
        t = process.cpu_times()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):  # a publisher that ran out of data; a backend that ended
        return 0.0
    return t.user + t.system + (t.children_user + t.children_system if children else 0.0)


def _sample(text: str, name: str, labels: str = "") -> float:
    key = f"{name}{{{labels}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(key):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _buckets(texts: list[str], name: str) -> list[tuple[float, float]]:
    """Cumulative (upper bound, count) pairs of a histogram, summed over workers."""
    sums: dict[float, float] = {}
    for text in texts:
        for line in text.splitlines():
            if line.startswith(name + "{"):
                le = line.split('le="', 1)[1].split('"', 1)[0]
                bound = float("inf") if le == "+Inf" else float(le)
                sums[bound] = sums.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
    return sorted(sums.items())


def quantile(q: float, start: list[tuple[float, float]], end: list[tuple[float, float]]) -> float | None:
    """The q-quantile of the observations between two snapshots of a cumulative histogram,
    interpolated linearly inside its bucket (Prometheus' histogram_quantile)."""
    before = dict(start)
    counts = [(bound, count - before.get(bound, 0.0)) for bound, count in end]
    total = counts[-1][1] if counts else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, cumulative in counts:
        if cumulative >= rank:
            if bound == float("inf"):
                return lower
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, cumulative
    return lower


def measure(workers: list[IngestProcess], messages: list[tuple[str, bytes]], mqtt_url: str, args) -> dict:
    ctx = mp.get_context("fork")  # children inherit the prepared messages without copying them
    start, stop = ctx.Event(), ctx.Event()
    counters = [ctx.Value("q", 0, lock=False) for _ in range(args.publishers)]
    per_rate = args.rate / args.publishers if args.rate else None
    # Full speed: each publisher may publish up to this many in total (raised as the ingest acks).
    allowance = ctx.Value("q", args.max_backlog // args.publishers if not args.rate else 2**62, lock=False)
    # Each publisher takes whole vehicles: a unit's messages stay in order, duplicates next to
    # their original.
    if args.dialect == "v1":
        shares = [[m for m in messages if _owner(m[0], args.publishers) == i] for i in range(args.publishers)]
    else:  # one position per message, keyed by (vehicle, time): any split keeps exactly-once
        shares = [messages[i :: args.publishers] for i in range(args.publishers)]
    procs = [
        ctx.Process(
            target=_publish, args=(shares[i], mqtt_url, start, stop, counters[i], per_rate, allowance), daemon=True
        )
        for i in range(args.publishers)
    ]
    for p in procs:
        p.start()
    publishers = [psutil.Process(p.pid) for p in procs]
    time.sleep(1.0)  # publishers connected
    start.set()

    def run_for(seconds: float) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            if not args.rate:
                acked = sum(_sample(w.metrics(), f"{METRIC}messages_acked_total") for w in workers)
                allowance.value = int(acked + args.max_backlog) // args.publishers
                time.sleep(args.feedback_interval)
            else:
                time.sleep(0.5)

    others = CpuSplit(parse_mqtt_url(mqtt_url).port)
    run_for(args.warmup)
    load_at_start = os.getloadavg()[0]
    first = Snapshot(workers, sum(c.value for c in counters), publishers, others)
    run_for(args.duration)
    last = Snapshot(workers, sum(c.value for c in counters), publishers, others)
    exhausted = not any(p.is_alive() for p in procs)
    stop.set()
    allowance.value = 2**62
    for p in procs:
        p.join(60)
    published = sum(c.value for c in counters)
    drain_started = time.monotonic()
    while Snapshot(workers, published).acked < published and time.monotonic() - drain_started < 120:
        time.sleep(0.5)
    done = Snapshot(workers, published)
    window = last.at - first.at
    return {
        "window_s": round(window, 1),
        "load_avg_1m_at_window_start": round(load_at_start, 2),
        "publisher_ran_out_of_data": exhausted,
        "fixes_per_s": round((last.fixes - first.fixes) / window),
        "messages_per_s": round((last.acked - first.acked) / window),
        "published_messages_per_s": round((last.published - first.published) / window),
        "lag_publish_to_commit_s": {
            f"p{int(q * 100)}": _round(quantile(q, first.lag, last.lag)) for q in (0.5, 0.95, 0.99)
        },
        "batch_oldest_receive_to_commit_s": {
            f"p{int(q * 100)}": _round(quantile(q, first.ingest_lag, last.ingest_lag)) for q in (0.5, 0.99)
        },
        "ingest_cpu_percent": round(100 * (last.cpu_s - first.cpu_s) / window, 1),
        # What the ingest costs, independent of how much CPU the machine left it.
        "ingest_cpu_us_per_message": _per(1e6 * (last.cpu_s - first.cpu_s), last.acked - first.acked),
        "fixes_per_ingest_cpu_second": _per(last.fixes - first.fixes, last.cpu_s - first.cpu_s),
        "publishers_cpu_percent": round(100 * (last.publisher_cpu_s - first.publisher_cpu_s) / window, 1),
        "publishers_cpu_us_per_message": _per(
            1e6 * (last.publisher_cpu_s - first.publisher_cpu_s), last.published - first.published
        ),
        # Percent of one core, over the window; machine = all cores (200 = both busy on 2 cores).
        "cpu_percent_during_window": {
            key: _round_pct(last.split[key] - first.split[key], window) for key in ("machine", "database", "broker")
        },
        "batches": int(last.batches - first.batches),
        "batch_rows_mean": round((last.batch_rows - first.batch_rows) / max(last.batches - first.batches, 1)),
        "batch_write_s_mean": round((last.batch_s - first.batch_s) / max(last.batches - first.batches, 1), 3),
        "batches_with_stored_fixes": int(last.conflicts - first.conflicts),
        "max_backlog": None if args.rate else args.max_backlog,
        "messages_published_total": published,
        "messages_acked_total": int(done.acked),
        "messages_lost": published - int(done.acked),
        "fixes_stored_total": int(done.fixes),
        "drain_s": round(done.at - drain_started, 1),
    }


def _per(amount: float, count: float) -> float | None:
    return round(amount / count, 1) if count > 0 else None


def _round_pct(seconds: float, window: float) -> float | None:
    return None if seconds != seconds else round(100 * seconds / window, 1)  # NaN: not on this machine


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _owner(topic: str, publishers: int) -> int:
    """The publisher of a topic's vehicle (fleet/<city>/<vehicle>/<channel>)."""
    return sum(topic.split("/")[2].encode()) % publishers


def _publish(messages, mqtt_url: str, start, stop, counter, rate: float | None, allowance) -> None:
    """Publisher process: QoS 1, `sent` stamped at publish time, rate or backlog limited.

    `counter` counts messages the broker acknowledged (PUBACK), i.e. really published.
    """
    from fleetpilot_bench.mqttpub import QoS1Publisher

    link = QoS1Publisher(parse_mqtt_url(mqtt_url), f"bench-pub-{uuid.uuid4().hex[:8]}")
    start.wait()
    began = time.monotonic()
    sent, i = 0, 0
    previous, stamped = None, None
    while i < len(messages) and not stop.is_set():
        # Never more than the allowance out, and at most 1000 without a PUBACK.
        limit = min(allowance.value, link.acked + 1000)
        if rate:
            limit = min(limit, int((time.monotonic() - began) * rate) + 1)
        if sent >= limit:
            counter.value = link.read_acks(0.002)
            continue
        wall = time.time()
        now = str(int(wall * 1000)).encode()
        now_iso = (datetime.fromtimestamp(wall, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+00:00").encode()
        now_s = str(int(wall)).encode()
        chunk = []
        for topic, payload in messages[i : i + min(limit - sent, 200)]:
            if payload is previous:  # a duplicate publish repeats its original byte for byte
                payload = stamped
            else:
                previous = payload
                at = payload.find(SENT_KEY)
                if at >= 0:
                    j = at + len(SENT_KEY)
                    payload = payload[:j] + now + payload[j + 13 :]
                elif (at := payload.find(SERVER_TIME_KEY)) >= 0:
                    j = at + len(SERVER_TIME_KEY)
                    payload = payload[:j] + now_iso + payload[j + 29 :]
                elif (at := payload.find(CREATED_KEY)) >= 0:  # whole seconds: lags read up to 1 s long
                    j = at + len(CREATED_KEY)
                    payload = payload[:j] + now_s + payload[j + 10 :]
                stamped = payload
            chunk.append((topic, payload))
        link.publish_many(chunk)
        i += len(chunk)
        sent += len(chunk)
        counter.value = link.read_acks()
    deadline = time.monotonic() + 60
    while link.acked < sent and time.monotonic() < deadline:
        counter.value = link.read_acks(0.05)
    if link.failed:
        print(f"bench publisher: the broker refused {link.failed} messages", file=sys.stderr)
    link.close()


async def raw_copy(db_url: str, max_rows: int, batch_rows: int) -> dict:
    """Rate of a plain COPY of the stored rows straight into the (emptied) fixes table."""
    columns = ["vehicle_id", "ts", "lon", "lat", "speed_mps", "heading_deg", "hdop", "seq", "generalised"]
    conn = await asyncpg.connect(db_url)
    try:
        rows = [tuple(r) for r in await conn.fetch(f"SELECT {', '.join(columns)} FROM fixes LIMIT $1", max_rows)]
        await conn.execute("TRUNCATE fixes")
        load = os.getloadavg()[0]
        started = time.perf_counter()
        for i in range(0, len(rows), batch_rows):
            await conn.copy_records_to_table("fixes", records=rows[i : i + batch_rows], columns=columns)
        seconds = time.perf_counter() - started
    finally:
        await conn.close()
    return {"rows": len(rows), "rows_per_s": round(len(rows) / seconds) if rows else 0, "load_avg_1m": round(load, 2)}
