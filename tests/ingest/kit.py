"""Helpers of the ingest tests (imported as `ingest_kit`, see conftest.py): workers
in-process or as `fleetpilot ingest`, a publisher, a simulated fleet on the real broker with
the rows a correct ingest stores, and a TCP proxy that can cut a link."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import asyncpg
import numpy as np
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from support import run

from fleetpilot.db.importer import import_city, import_roster, import_routes
from fleetpilot.ingest.metrics import IngestMetrics
from fleetpilot.ingest.worker import IngestConfig, IngestWorker
from fleetpilot.urls import parse_mqtt_url

HOUR_MS = 3_600_000


def unique_city() -> str:
    return f"it-{uuid.uuid4().hex[:10]}"


def sim_start_ms(hours_ago: float = 3.0) -> int:
    """A shift start in the recent past (whole minute), so no time is in the future or expired."""
    now = int(time.time() * 1000)
    return (now - int(hours_ago * HOUR_MS)) // 60_000 * 60_000


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    """Poll `predicate` until it returns something truthy; fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def sql(url: str, query: str, *args):
    """Run one query on a fresh connection and return its rows."""

    async def go():
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    return run(go())


def metric(text: str, name: str, **labels) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    key = f"{name}{{{want}}}" if want else name
    for line in text.splitlines():
        if line.startswith(key + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# --- workers ---------------------------------------------------------------------------


def now_ms() -> int:
    return int(time.time() * 1000)


def acked(worker, n: int, timeout: float = 30) -> None:
    """Wait until the worker has acknowledged `n` messages (acks follow the commit)."""
    wait_until(lambda: worker.value("fleetpilot_ingest_messages_acked_total") >= n, timeout, f"{n} acks")


def all_rows_as_text(db_url: str) -> str:
    """Every row of every table of the database, as text (the dead letters' bytea payloads also
    decoded as UTF-8): what a search for a leaked coordinate must look through."""
    tables = sql(
        db_url,
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')",
    )
    chunks = []
    for t in tables:
        rows = sql(db_url, f'SELECT t::text AS r FROM "{t["table_schema"]}"."{t["table_name"]}" t')
        chunks.extend(r["r"] for r in rows)
    for r in sql(db_url, "SELECT payload FROM rejects"):
        chunks.append(bytes(r["payload"]).decode("utf-8", "replace"))
    return "\n".join(chunks)


DIRECT_LAUNCH = """
import argparse, sys
from fleetpilot.commands import ingest
from fleetpilot.settings import Settings
parser = argparse.ArgumentParser()
ingest.add_arguments(parser)
sys.exit(ingest.run(parser.parse_args(sys.argv[1:]), Settings()))
"""


class WorkerThread:
    """An IngestWorker on its own event loop in a thread (as `fleetpilot ingest` runs it)."""

    def __init__(self, config: IngestConfig):
        self.config = config
        self.metrics = IngestMetrics()
        self.worker = IngestWorker(config, self.metrics)
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._main, name=f"ingest-{config.worker_id}", daemon=True)

    def _main(self) -> None:
        async def go():
            self._loop = asyncio.get_running_loop()
            await self.worker.run()

        try:
            asyncio.run(go())
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def start(self) -> WorkerThread:
        self._thread.start()
        wait_until(
            lambda: self.worker.receiver is not None and self.worker.receiver.subscribed.is_set() or self.error,
            20,
            "the worker to subscribe",
        )
        if self.error:
            raise self.error
        return self

    def value(self, name: str, **labels) -> float:
        return self.metrics.registry.get_sample_value(name, labels or None) or 0.0

    def stop(self, timeout: float = 30) -> None:
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.worker.stop)
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "worker did not stop"
        if self.error:
            raise self.error


class WorkerProcess:
    """`fleetpilot ingest` as a child process (for SIGKILL and SIGTERM).

    `cli=False` runs the same command module without the `fleetpilot` entry point, which
    imports every subcommand (analytics, scipy …) and takes seconds to start on a busy box.
    """

    def __init__(self, db_url: str, mqtt_url: str, city: str, log: Path, *args: str, cli: bool = True):
        self.log = log
        env = {
            **os.environ,
            "FLEETPILOT_DATABASE_URL": db_url,
            "FLEETPILOT_MQTT_URL": mqtt_url,
            "FLEETPILOT_CITY": city,
            "FLEETPILOT_ENV_FILE": "/nonexistent",
        }
        self._log_file = open(log, "ab")
        launch = ["-m", "fleetpilot.cli", "ingest"] if cli else ["-c", DIRECT_LAUNCH]
        self.proc = subprocess.Popen(
            [sys.executable, *launch, "--metrics-port", "0", *args],
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def wait_subscribed(self, count: int = 1) -> None:
        wait_until(
            lambda: self.log.read_text().count('"event":"subscribed"') >= count or self.proc.poll() is not None,
            30,
            "the ingest process to subscribe",
        )
        assert self.proc.poll() is None, self.log.read_text()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log_file.close()


# --- publishing ------------------------------------------------------------------------


class Publisher:
    """A plain MQTT 5 client publishing QoS 1 messages and waiting for their PUBACKs."""

    def __init__(self, mqtt_url: str, city: str):
        target = parse_mqtt_url(mqtt_url)
        self.city = city
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
        )
        self.client.max_inflight_messages_set(1000)
        self.client.connect(target.host, target.port)
        self.client.loop_start()
        self.pending = []

    def send(self, vid: str, channel: str, body: dict | bytes, topic: str | None = None) -> None:
        payload = body if isinstance(body, bytes) else orjson.dumps(body)
        self.pending.append(self.client.publish(topic or f"fleet/{self.city}/{vid}/{channel}", payload, qos=1))

    def flush(self, timeout: float = 30) -> None:
        for info in self.pending:
            info.wait_for_publish(timeout)
        self.pending.clear()

    def close(self) -> None:
        self.flush()
        self.client.disconnect()  # first: it wakes the network thread, which then ends at once
        self.client.loop_stop()


def publish_acked(mqtt_url: str, city: str, worker, messages: list[tuple[str, bytes]]) -> None:
    """Publish (topic, payload) messages through the real broker and wait until the worker has
    acknowledged every one (its totals: acks follow the commit)."""
    pub = Publisher(mqtt_url, city)
    try:
        for topic, payload in messages:
            pub.send("", "", payload, topic=topic)
        pub.flush()
    finally:
        pub.close()
    wait_until(lambda: worker.worker.totals["acked"] >= len(messages), 30, "every message acknowledged")


def telemetry(vid: str, seq: int, fixes: list[list], sent: int | None = None, **extra) -> dict:
    return {"v": 1, "vid": vid, "seq": seq, "sent": sent or int(time.time() * 1000), "fixes": fixes, **extra}


def events(vid: str, seq: int, evs: list[dict], sent: int | None = None, **extra) -> dict:
    return {"v": 1, "vid": vid, "seq": seq, "sent": sent or int(time.time() * 1000), "events": evs, **extra}


def fix(t: int, lon: float = -96.8, lat: float = 32.78, speed: float = 5.0) -> list:
    return [t, lon, lat, speed, 90.0, 0.9]


def register(db_url: str, city: str, vid: str, shifts: list[tuple[int, int]]) -> None:
    """A vehicle of `city` with a device and on-duty windows (epoch ms pairs)."""
    sql(db_url, "INSERT INTO vehicles (vehicle_id, city) VALUES ($1, $2) ON CONFLICT DO NOTHING", vid, city)
    sql(
        db_url,
        "INSERT INTO devices (device_id, vehicle_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        f"dev-{vid}-{city}",
        vid,
    )
    for i, (start, end) in enumerate(shifts):
        sql(
            db_url,
            "INSERT INTO shifts (shift_id, vehicle_id, starts_at, ends_at) "
            "VALUES ($1, $2, to_timestamp($3 / 1000.0), to_timestamp($4 / 1000.0))",
            f"{vid}-{start}-{i}",
            vid,
            start,
            end,
        )


# --- the simulator ---------------------------------------------------------------------


@dataclass
class SimFleet:
    """A simulated fleet: the scenario to publish, its ground truth and the rows a correct
    ingest stores (distinct (vehicle, t) fixes and (vehicle, t, kind) events, on duty, not
    private), computed by the simulator's offline generator from the same configuration."""

    scenario: object
    truth: dict
    fixes: dict[tuple[str, int], tuple[float, float]]
    events: set[tuple[str, int, str]]

    def publish(self, mqtt_url: str, accel: float):
        from fleetsim.live import run_live
        from fleetsim.mqtt import Broker

        truth, report = run_live(self.scenario, Broker.from_url(mqtt_url), accel=accel)
        assert report.failed == 0 and report.acked == report.publishes, report
        return report


def build_fleet(
    db_url: str,
    city: str,
    *,
    vehicles: int = 3,
    hours: float = 0.25,
    seed: int = 7,
    start_ms: int | None = None,
    faults=None,
    link=None,
) -> SimFleet:
    """Simulate, import the city/routes/roster into the database, compute the expected rows."""
    from fleetsim.config import Faults, SimConfig
    from fleetsim.offline import generate_fleet
    from fleetsim.scenario import build_scenario

    cfg = SimConfig(
        seed=seed,
        city=city,
        n_vehicles=vehicles,
        hours=hours,
        stagger_minutes=0.0,
        start_ms=start_ms or sim_start_ms(),
        faults=faults or Faults(),
    )
    if link is not None:
        cfg = replace(cfg, link=link)
    scenario = build_scenario(cfg)
    fleet = generate_fleet(config=cfg)

    async def load():
        conn = await asyncpg.connect(db_url)
        try:
            await import_city(conn, scenario.city_geojson())
            await import_routes(conn, scenario.routes_geojson(), created_by="test")
            await import_roster(conn, scenario.roster.to_json())
        finally:
            await conn.close()

    run(load())
    roster = scenario.roster.to_json()
    vids = np.array(fleet.vehicle_ids)
    windows = {}
    for s in roster["shifts"]:
        from fleetsim.roster import parse_time

        windows.setdefault(s["vehicle_id"], []).append((parse_time(s["start"]), parse_time(s["end"])))

    def on_duty(vid: str, t: int) -> bool:
        return any(a <= t < b for a, b in windows[vid])

    f = fleet.fixes
    expected_fixes = {}
    for v, t, lon, lat, priv in zip(
        vids[f["vehicle"]].tolist(), f["t"].tolist(), f["lon"].tolist(), f["lat"].tolist(), f["priv"].tolist()
    ):
        if not priv and on_duty(v, t):
            expected_fixes[(v, t)] = (lon, lat)
    e = fleet.events
    kinds = np.array(fleet.event_kinds)
    expected_events = {
        (v, t, k)
        for v, t, k, priv in zip(
            vids[e["vehicle"]].tolist(), e["t"].tolist(), kinds[e["kind"]].tolist(), e["priv"].tolist()
        )
        if not priv and on_duty(v, t)
    }
    return SimFleet(scenario, fleet.truth, expected_fixes, expected_events)


def stored_rows(db_url: str):
    fixes = sql(db_url, "SELECT vehicle_id, (extract(epoch FROM ts) * 1000)::bigint AS t, lon, lat FROM fixes")
    events = sql(db_url, "SELECT vehicle_id, (extract(epoch FROM ts) * 1000)::bigint AS t, kind FROM events")
    return fixes, events


def assert_exactly_once(db_url: str, fleet: SimFleet) -> None:
    """Every expected row stored once, with its values; nothing else stored."""
    fixes, evs = stored_rows(db_url)
    got = {(r["vehicle_id"], r["t"]): (r["lon"], r["lat"]) for r in fixes}
    assert len(got) == len(fixes), "a fix is stored twice"
    missing = fleet.fixes.keys() - got.keys()
    extra = got.keys() - fleet.fixes.keys()
    assert not missing, f"{len(missing)} fixes lost, e.g. {sorted(missing)[:3]}"
    assert not extra, f"{len(extra)} fixes stored that must not be, e.g. {sorted(extra)[:3]}"
    assert all(abs(got[k][0] - v[0]) < 1e-7 and abs(got[k][1] - v[1]) < 1e-7 for k, v in fleet.fixes.items())
    got_events = {(r["vehicle_id"], r["t"], r["kind"]) for r in evs}
    assert len(got_events) == len(evs), "an event is stored twice"
    assert got_events == fleet.events
    totals = fleet.truth["totals"]
    assert len(fixes) == totals["fixes_expected_stored"]
    assert len(evs) == totals["events_expected_stored"]


def wait_for_rows(db_url: str, fleet: SimFleet, timeout: float = 60) -> None:
    want = len(fleet.fixes)
    wait_until(
        lambda: sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"] >= want, timeout, f"{want} fixes to be stored"
    )
    want_events = len(fleet.events)
    wait_until(
        lambda: sql(db_url, "SELECT count(*) AS n FROM events")[0]["n"] >= want_events,
        timeout,
        f"{want_events} events to be stored",
    )


# --- a TCP proxy that can cut a link ------------------------------------------------------


class Proxy:
    """Forwards a local port to `target`; `cut()` drops every connection and refuses new ones
    until `restore()` (what a crashed server or a lost network looks like to a client)."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._up = True
        self._closed = False
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
                self.connections += 1
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                readable, _, _ = select.select([a, b], [], [], 0.5)
                for src in readable:
                    data = src.recv(65536)
                    if not data:
                        return
                    (b if src is a else a).sendall(data)
        except OSError:
            return
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self) -> None:
        self._up = False
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for s in pair:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def restore(self) -> None:
        self._up = True

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()


def fetch_metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def ground_truth_counts(db_url: str, fleet: SimFleet) -> dict:
    """Expected / stored / lost / duplicated fixes: the figures of a fault scenario's report."""
    fixes, _ = stored_rows(db_url)
    keys = [(r["vehicle_id"], r["t"]) for r in fixes]
    distinct = set(keys)
    return {
        "expected": len(fleet.fixes),
        "stored": len(keys),
        "lost": len(fleet.fixes.keys() - distinct),
        "duplicated": len(keys) - len(distinct),
        "unexpected": len(distinct - fleet.fixes.keys()),
    }


# A real uvicorn on a loopback port, and HTTP/1.1 spoken by hand (the tracker doors' tests).


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(app, port: int, **config) -> tuple:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(300):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started
    return server, thread


def read_answers(sock: socket.socket, n: int, timeout: float = 30) -> list[tuple[int, dict, bytes]]:
    """`n` HTTP/1.1 answers read off `sock` (Content-Length framed): (status, headers, body)."""
    buffer, out = b"", []
    sock.settimeout(timeout)
    while len(out) < n:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            head = buffer[:end].decode("latin-1").split("\r\n")
            headers = {name.lower(): value for name, value in (line.split(": ", 1) for line in head[1:])}
            length = int(headers["content-length"])
            if len(buffer) >= end + 4 + length:
                out.append((int(head[0].split()[1]), headers, buffer[end + 4 : end + 4 + length]))
                buffer = buffer[end + 4 + length :]
                continue
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {len(out)} answers"
        buffer += chunk
    return out


def door_post(path: str, body: bytes, authorization: str, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {authorization}\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
