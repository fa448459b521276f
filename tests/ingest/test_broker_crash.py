"""The broker crashes (SIGKILL) while it holds acknowledged messages for a lagging ingest.

A private Mosquitto on a free port runs the shipped production configuration
(deploy/mosquitto/mosquitto.conf: persistence with a 1 s autosave, large queues, the password
and ACL files of `fleetpilot devices broker-files`), paths rewritten into the test's
directory; units publish with their own credentials, the ingest (and its presence
connection) with its own. The
ingest lags (a table lock holds its writes), the broker acknowledges the whole fleet, is
killed and started again; ground truth must then be stored exactly once. With Mosquitto's
defaults the same crash loses what was queued, which this test also shows (so the
production case cannot pass without the crash having been real).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import asyncpg
import pytest
from ingest_kit import assert_exactly_once, build_fleet, ground_truth_counts, sql, wait_until
from private_servers import PrivateMosquitto

pytestmark = [pytest.mark.integration, pytest.mark.broker]
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
INGEST_PASSWORD = "ingest-secret"


def production_broker(db_url: str, city: str) -> PrivateMosquitto:
    """deploy/mosquitto/mosquitto.conf with this test's paths, and the password and ACL files
    `fleetpilot devices broker-files` makes from the devices table (each unit's login is its
    device id; its password here is known to the test)."""
    from fleetpilot.devices import broker_files, mosquitto_hash

    broker = PrivateMosquitto()
    root = broker.root
    conf = []
    for line in (DEPLOY / "mosquitto.conf").read_text().splitlines():
        key = line.split(" ", 1)[0]
        if key == "listener":
            continue  # the private listener is added on a free port
        line = {
            "password_file": f"password_file {root / 'passwd'}",
            "acl_file": f"acl_file {root / 'acl'}",
            "persistence_location": f"persistence_location {root}/",
        }.get(key, line)
        conf.append(line)
    broker.conf.write_text("\n".join(conf) + f"\nlistener {broker.port} 127.0.0.1\n")

    async def files() -> tuple[str, str]:
        conn = await asyncpg.connect(db_url)
        try:
            for row in await conn.fetch("SELECT device_id FROM devices"):
                await conn.execute(
                    "UPDATE devices SET mqtt_username = device_id, mqtt_password_hash = $2 WHERE device_id = $1",
                    row["device_id"],
                    mosquitto_hash(f"pw-{row['device_id']}"),
                )
            return await broker_files(
                conn,
                city=city,
                traccar_topic="traccar/{city}/+",
                owntracks_topic="owntracks/+/+",
                ingest_username="fleetpilot-ingest",
                ingest_password=INGEST_PASSWORD,
            )
        finally:
            await conn.close()

    passwd, acl = asyncio.run(files())
    (root / "passwd").write_text(passwd)
    (root / "acl").write_text(acl)
    return broker


def default_broker() -> PrivateMosquitto:
    return PrivateMosquitto("allow_anonymous true")


class TableLock:
    """Hold ACCESS EXCLUSIVE on `fixes` from a thread until `release()`: the ingest's writes wait."""

    def __init__(self, db_url: str):
        self._release = threading.Event()
        self._held = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._hold(db_url),), daemon=True)
        self._thread.start()
        assert self._held.wait(10), "could not lock fixes"

    async def _hold(self, db_url: str) -> None:
        conn = await asyncpg.connect(db_url)
        try:
            async with conn.transaction():
                await conn.execute("LOCK TABLE fixes IN ACCESS EXCLUSIVE MODE")
                self._held.set()
                await asyncio.to_thread(self._release.wait, 60)
        finally:
            await conn.close()

    def release(self) -> None:
        self._release.set()
        self._thread.join(10)


def crash_scenario(db_url: str, city: str, start_process, production: bool) -> tuple[dict, float, str]:
    from fleetsim.live import run_live
    from fleetsim.mqtt import Broker

    fleet = build_fleet(db_url, city, vehicles=3, hours=0.3)
    broker = production_broker(db_url, city) if production else default_broker()
    broker.start()
    try:
        ingest_url = f"mqtt://fleetpilot-ingest:{INGEST_PASSWORD}@127.0.0.1:{broker.port}" if production else broker.url
        # A small buffer (its MQTT 5 Receive Maximum too): the worker holds at most 20 messages,
        # the rest of the fleet (~340 messages) waits at the broker when it is killed.
        proc = start_process("--worker-id", "c", "--buffer", "20", mqtt=ingest_url, cli=False)
        proc.wait_subscribed()
        lock = TableLock(db_url)
        units = Broker(host="127.0.0.1", port=broker.port)
        if production:
            units = Broker(host="127.0.0.1", port=broker.port, username="{device}", password="pw-{device}")
        _, report = run_live(fleet.scenario, units, accel=0)  # every publish acknowledged by the broker
        assert report.failed == 0 and report.acked == report.publishes, report
        time.sleep(2.5)  # more than two autosave intervals of the production configuration
        broker.kill()
        broker.start()
        restarted = time.monotonic()
        lock.release()
        want = len(fleet.fixes)

        def settled() -> bool:
            n = sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"]
            return n >= want or (not production and n > 0 and time.monotonic() - restarted > 15)

        wait_until(settled, 45, "the fleet's rows after the broker restart")
        recovery = time.monotonic() - restarted
        counts = ground_truth_counts(db_url, fleet)
        line = {
            "scenario": f"broker SIGKILL, {'production' if production else 'default'} config",
            **counts,
            "recovery_s": round(recovery, 2),
        }
        print("FAULT", json.dumps(line))
        ARTIFACTS.mkdir(exist_ok=True)
        with open(ARTIFACTS / "fault-scenarios.jsonl", "a") as out:
            out.write(json.dumps(line) + "\n")
        assert proc.proc.poll() is None, proc.log.read_text()[-3000:]
        if production:
            assert_exactly_once(db_url, fleet)
        assert proc.terminate() == 0
        return counts, recovery, proc.log.read_text()
    finally:
        broker.close()


@pytest.mark.timeout(120)
def test_production_config_keeps_what_the_broker_acknowledged(db_url, city, start_process):
    counts, _, log = crash_scenario(db_url, city, start_process, production=True)
    assert counts["lost"] == 0 and counts["duplicated"] == 0
    reconnects = [json.loads(line) for line in log.splitlines() if '"connected to the broker"' in line]
    assert len(reconnects) >= 2 and reconnects[-1]["session_present"] is True


@pytest.mark.timeout(120)
def test_default_config_loses_it_and_the_worker_says_so(db_url, city, start_process):
    """Mosquitto's defaults (no persistence): the crash drops the queue; the reconnect finds no
    session, which the worker reports as a WARNING naming what it implies."""
    counts, _, log = crash_scenario(db_url, city, start_process, production=False)
    assert counts["lost"] > 0
    warnings = [json.loads(line) for line in log.splitlines() if '"broker has no session' in line]
    assert warnings and warnings[-1]["level"] == "warning" and "lost" in warnings[-1]["implies"]
