"""Device identity on the broker (issue 17 item 3): `fleetpilot devices add` and
`devices broker-files` against a PRIVATE Mosquitto started on a free port with the generated
password file and ACL (the shared broker on 1883 is never reconfigured). A device that
publishes to another truck's topic is refused by the broker and nothing reaches the database."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid

import orjson
import paho.mqtt.client as mqtt
import pytest
from ingest_kit import HOUR_MS, fix, register, sql, telemetry, wait_until
from paho.mqtt.enums import CallbackAPIVersion
from support import mosquitto_binary
from trackers_formats import owntracks_location

pytestmark = [
    pytest.mark.integration,
    pytest.mark.broker,
]
NOT_AUTHORIZED = 135  # MQTT 5 reason code 0x87
INGEST_USER, INGEST_PASSWORD = "fp-ingest", "ingest-" + uuid.uuid4().hex


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def private_mosquitto(tmp_path):
    procs = []

    def start(files_dir, extra: str = "") -> int:
        port = free_port()
        conf = tmp_path / "mosquitto.conf"
        conf.write_text(
            f"listener {port} 127.0.0.1\n"
            "allow_anonymous false\n"
            f"password_file {files_dir / 'passwd'}\n"
            f"acl_file {files_dir / 'acl'}\n"
            "persistence false\n"
            "user root\n" + extra  # as root Mosquitto would switch to user mosquitto, who cannot read the 0600 files
        )
        log = open(tmp_path / "mosquitto.log", "wb")
        procs.append(
            (subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT), log)
        )

        def listening():
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        wait_until(listening, 10, "the private Mosquitto to listen")
        return port

    yield start
    for proc, log in procs:
        proc.terminate()
        proc.wait(10)
        log.close()


def cli(db_url: str, city: str, *args: str, mqtt_url: str = "") -> str:
    env = {
        **os.environ,
        "FLEETPILOT_DATABASE_URL": db_url,
        "FLEETPILOT_CITY": city,
        "FLEETPILOT_MQTT_URL": mqtt_url,
        "FLEETPILOT_ENV_FILE": "/nonexistent",
    }
    done = subprocess.run(
        [sys.executable, "-m", "fleetpilot.cli", "devices", *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def secret(output: str, label: str) -> str:
    return re.search(rf"^{label}: (\S+)$", output, re.M).group(1)


class Device:
    """An MQTT 5 client that records each publish's PUBACK reason code."""

    def __init__(self, port: int, username: str, password: str, ca: str | None = None):
        self.codes: dict[int, int] = {}
        self.connected: int | None = None
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"dev-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(username, password)
        if ca is not None:
            self.client.tls_set(ca_certs=ca)
        self.client.on_publish = lambda c, u, mid, rc, props: self.codes.__setitem__(mid, rc.value)
        self.client.on_connect = lambda c, u, flags, rc, props: setattr(self, "connected", rc.value)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        wait_until(lambda: self.connected is not None, 10, "CONNACK")

    def publish(self, topic: str, payload: bytes) -> int:
        """The PUBACK's reason code (0: accepted)."""
        info = self.client.publish(topic, payload, qos=1)
        wait_until(lambda: info.mid in self.codes, 10, f"PUBACK for {topic}")
        return self.codes[info.mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_a_device_may_publish_only_its_own_topics(db_url, city, tmp_path, private_mosquitto, start_worker):
    now = int(time.time() * 1000)
    start = now - HOUR_MS
    for vid in ("truck-1", "truck-2", "truck-3"):
        register(db_url, city, vid, [(start, now + HOUR_MS)])
    unit = cli(db_url, city, "add", "unit-1", "--vehicle", "truck-1")
    cli(db_url, city, "add", "unit-2", "--vehicle", "truck-2")
    phone = cli(
        db_url,
        city,
        "add",
        "ana-phone",
        "--vehicle",
        "truck-3",
        "--dialect",
        "owntracks",
        "--external-id",
        "ana/phone1",
    )
    assert secret(phone, "mqtt username") == "ana"
    files = tmp_path / "broker"
    ingest_url = f"mqtt://{INGEST_USER}:{INGEST_PASSWORD}@127.0.0.1:1"  # only its credentials are read here
    cli(db_url, city, "broker-files", "--out", str(files), mqtt_url=ingest_url)
    assert oct((files / "passwd").stat().st_mode & 0o777) == "0o600"
    assert (
        "secret" not in (files / "passwd").read_text()
        and secret(unit, "mqtt password") not in (files / "passwd").read_text()
    )
    port = private_mosquitto(files)
    worker = start_worker(mqtt_url=f"mqtt://{INGEST_USER}:{INGEST_PASSWORD}@127.0.0.1:{port}")

    truck1 = Device(port, "unit-1", secret(unit, "mqtt password"))
    ana = Device(port, "ana", secret(phone, "mqtt password"))
    try:
        assert truck1.connected == 0
        own = telemetry("truck-1", 1, [fix(now - 60_000)])
        assert truck1.publish(f"fleet/{city}/truck-1/telemetry", orjson.dumps(own)) == 0
        foreign = telemetry("truck-2", 1, [fix(now - 50_000)])
        assert truck1.publish(f"fleet/{city}/truck-2/telemetry", orjson.dumps(foreign)) == NOT_AUTHORIZED
        location = orjson.dumps(owntracks_location((now - 40_000) // 1000, 32.78, -96.8))
        assert ana.publish("owntracks/ana/phone1", location) == 0
        assert ana.publish("owntracks/bob/phone1", location) == NOT_AUTHORIZED
        assert ana.publish(f"fleet/{city}/truck-3/telemetry", orjson.dumps(own)) == NOT_AUTHORIZED
    finally:
        truck1.close()
        ana.close()
    intruder = Device(port, "unit-1", "not-the-password")
    assert intruder.connected != 0  # refused at CONNECT
    intruder.close()

    wait_until(lambda: worker.worker.totals["acked"] >= 2, 20, "the two accepted messages stored")
    rows = sql(db_url, "SELECT vehicle_id, count(*) AS n FROM fixes GROUP BY 1 ORDER BY 1")
    assert [(r["vehicle_id"], r["n"]) for r in rows] == [("truck-1", 1), ("truck-3", 1)]
    assert sql(db_url, "SELECT count(*) AS n FROM rejects")[0]["n"] == 0  # refused ones never arrived


def make_certificates(folder) -> tuple[str, str, str]:
    """A throw-away CA and a server certificate for 127.0.0.1 (openssl), as (ca, cert, key)."""
    folder.mkdir()
    ca, ca_key, cert, key, csr, ext = (
        str(folder / n) for n in ("ca.pem", "ca.key", "server.pem", "server.key", "server.csr", "ext")
    )
    (folder / "ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for cmd in (
        [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            ca_key,
            "-out",
            ca,
            "-days",
            "1",
            "-subj",
            "/CN=fleetpilot test CA",
        ],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        [
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            ca,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-out",
            cert,
            "-days",
            "1",
            "-extfile",
            ext,
        ],
    ):
        subprocess.run(["openssl", *cmd], check=True, capture_output=True)
    return ca, cert, key


def test_tls_example_configuration(db_url, city, tmp_path, private_mosquitto, start_worker, monkeypatch):
    """docs/trackers.md's TLS listener (certfile/keyfile + the generated files): a unit and the
    ingest (mqtts://) connect over TLS; a plain-text client does not get in."""
    now = int(time.time() * 1000)
    register(db_url, city, "truck-1", [(now - HOUR_MS, now + HOUR_MS)])
    unit = cli(db_url, city, "add", "unit-1", "--vehicle", "truck-1")
    files = tmp_path / "broker"
    cli(
        db_url,
        city,
        "broker-files",
        "--out",
        str(files),
        mqtt_url=f"mqtt://{INGEST_USER}:{INGEST_PASSWORD}@127.0.0.1:1",
    )
    ca, cert, key = make_certificates(tmp_path / "tls")
    port = private_mosquitto(files, f"certfile {cert}\nkeyfile {key}\n")
    monkeypatch.setenv("SSL_CERT_FILE", ca)  # the ingest verifies the broker against the system CAs: ours here
    worker = start_worker(mqtt_url=f"mqtts://{INGEST_USER}:{INGEST_PASSWORD}@127.0.0.1:{port}")
    device = Device(port, "unit-1", secret(unit, "mqtt password"), ca=ca)
    try:
        assert device.connected == 0
        body = orjson.dumps(telemetry("truck-1", 1, [fix(now - 60_000)]))
        assert device.publish(f"fleet/{city}/truck-1/telemetry", body) == 0
    finally:
        device.close()
    wait_until(lambda: worker.worker.totals["acked"] >= 1, 20, "the message stored")
    assert sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"] == 1
    with pytest.raises(Exception):  # noqa: B017 (no TLS, no session: the broker drops the plain CONNECT)
        Device(port, "unit-1", secret(unit, "mqtt password"))
