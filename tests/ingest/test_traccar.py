"""Traccar in (issue 17 item 1): PositionData / EventData over MQTT and HTTP, against the real
broker and PostgreSQL. Messages come from tests/trackers_formats.py, written from Traccar's
public source (not from the adapter), so the two can disagree."""

from __future__ import annotations

import time
import warnings

import orjson
import pytest
from ingest_kit import HOUR_MS, Publisher, publish_acked, register, sql, wait_until
from support import run
from trackers_formats import (
    KNOT_MPS,
    traccar_event_data,
    traccar_position,
    traccar_position_data,
)

from fleetpilot.ingest.dialects import tokens, traccar
from fleetpilot.ingest.validate import Rejected
from fleetpilot.settings import Settings

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
from fastapi.testclient import TestClient  # noqa: E402

from fleetpilot.api.app import create_app  # noqa: E402

UNIQUE_ID = "864275071234567"  # an IMEI, as most trackers' uniqueId
LAT, LON = 32.7767, -96.7970


def bind(db_url: str, device_id: str, vid: str, dialect: str, external_id: str) -> None:
    sql(
        db_url,
        "INSERT INTO devices (device_id, vehicle_id, dialect, external_id) VALUES ($1, $2, $3, $4)",
        device_id,
        vid,
        dialect,
        external_id,
    )


def on_duty_vehicle(db_url: str, city: str, vid: str = "truck-1") -> int:
    """A registered vehicle on duty from 2 h ago to 1 h ahead, bound to UNIQUE_ID; returns the shift start."""
    now = int(time.time() * 1000)
    start = (now - 2 * HOUR_MS) // 1000 * 1000
    register(db_url, city, vid, [(start, now + HOUR_MS)])
    bind(db_url, f"trc-{vid}", vid, "traccar", UNIQUE_ID)
    return start


# --- the adapter alone -------------------------------------------------------------------


def test_position_maps_field_by_field():
    t = 1_714_557_600_123
    body = traccar_position_data(UNIQUE_ID, traccar_position(t, LAT, LON, speed_knots=20, course=360, accuracy=12.5))
    decoded = traccar.decode(orjson.loads(orjson.dumps(body)))
    assert decoded.identity == UNIQUE_ID
    [[ft, lon, lat, speed, heading, hdop]] = decoded.fixes
    assert (ft, lon, lat) == (t, LON, LAT)
    assert speed == pytest.approx(20 * KNOT_MPS, abs=1e-3)  # knots, not m/s or km/h
    assert heading == 0.0  # 360 is north
    assert hdop == pytest.approx(2.5)  # 12.5 m at 5 m per HDOP
    assert decoded.events == []
    assert decoded.sent_ms == t + 800  # serverTime


def test_invalid_and_malformed_positions_say_why():
    t = 1_714_557_600_000
    cases = {
        "invalid_fix": traccar_position_data(UNIQUE_ID, traccar_position(t, LAT, LON, valid=False)),
        "outdated_fix": traccar_position_data(UNIQUE_ID, {**traccar_position(t, LAT, LON), "outdated": True}),
        "schema": {"position": traccar_position(t, LAT, LON)},  # no device
        "wrong_type": traccar_position_data(UNIQUE_ID, {**traccar_position(t, LAT, LON), "latitude": "32.7"}),
    }
    for reason, body in cases.items():
        got = traccar.decode(body)
        assert type(got) is Rejected and got.reason == reason, (reason, got)
    no_zone = traccar_position(t, LAT, LON) | {"fixTime": "2024-05-01T10:00:00.000"}
    assert traccar.decode(traccar_position_data(UNIQUE_ID, no_zone)).reason == "schema"


def test_alarms_become_events_once():
    t = 1_714_557_600_000
    pos = traccar_position(t, LAT, LON, alarm="overspeed,hardBraking,hardCornering")
    from_position = traccar.decode(traccar_position_data(UNIQUE_ID, pos))
    assert [(e["t"], e["k"], e["mag"]) for e in from_position.events] == [
        (t, "harsh_brake", None),
        (t, "harsh_corner", None),
    ]
    from_event = traccar.decode(traccar_event_data(UNIQUE_ID, pos, "alarm", "hardBraking"))
    assert from_event.fixes == []  # the position comes through position forwarding
    assert [(e["t"], e["k"]) for e in from_event.events] == [(t, "harsh_brake")]  # same key: one row
    assert traccar.decode(traccar_event_data(UNIQUE_ID, pos, "geofenceEnter")).ignored
    assert [e["k"] for e in traccar.decode(traccar_event_data(UNIQUE_ID, pos, "ignitionOn")).events] == ["ignition_on"]


# --- over MQTT (forward.type=mqtt) ---------------------------------------------------------


@pytest.mark.integration
@pytest.mark.broker
def test_traccar_over_mqtt(db_url, city, mqtt_url, start_worker):
    start = on_duty_vehicle(db_url, city)
    worker = start_worker()
    t0 = start + 10 * 60_000
    positions, events = f"traccar/{city}/positions", f"traccar/{city}/events"
    braking = traccar_position(t0 + 1000, LAT, LON + 0.0001, speed_knots=12, alarm="hardBraking")
    first = orjson.dumps(traccar_position_data(UNIQUE_ID, traccar_position(t0, LAT, LON, accuracy=10)))
    messages = [
        (positions, first),
        (positions, orjson.dumps(traccar_position_data(UNIQUE_ID, braking))),
        (positions, orjson.dumps(traccar_position_data(UNIQUE_ID, traccar_position(t0 + 2000, LAT, LON, course=0)))),
        (positions, first),  # QoS 1 redelivery / Traccar retry
        (events, orjson.dumps(traccar_event_data(UNIQUE_ID, braking, "alarm", "hardBraking"))),  # no 2nd brake
        (events, orjson.dumps(traccar_event_data(UNIQUE_ID, braking, "deviceMoving"))),  # ignored
        (events, orjson.dumps(traccar_event_data(UNIQUE_ID, braking, "ignitionOn"))),
        (positions, orjson.dumps(traccar_position_data(UNIQUE_ID, traccar_position(t0 + 3000, 0, 0, valid=False)))),
        (positions, orjson.dumps(traccar_position_data("999", traccar_position(t0 + 4000, LAT, LON)))),
        (positions, orjson.dumps(traccar_position_data(UNIQUE_ID, traccar_position(start - 60_000, LAT, LON)))),
        (positions, b'{"position": '),
    ]
    publish_acked(mqtt_url, city, worker, messages)

    fixes = sql(
        db_url, "SELECT ts, speed_mps, heading_deg, hdop, seq FROM fixes WHERE vehicle_id = 'truck-1' ORDER BY ts"
    )
    assert len(fixes) == 3
    assert fixes[0]["speed_mps"] == pytest.approx(10 * KNOT_MPS, abs=1e-3)
    assert fixes[0]["hdop"] == pytest.approx(2.0) and fixes[1]["hdop"] is None
    assert all(f["seq"] is None for f in fixes)
    evs = sql(db_url, "SELECT kind, magnitude FROM events WHERE vehicle_id = 'truck-1' ORDER BY kind")
    assert [(e["kind"], e["magnitude"]) for e in evs] == [("harsh_brake", None), ("ignition_on", 0.0)]
    rejects = sql(db_url, "SELECT reason, topic, detail FROM rejects ORDER BY reason")
    assert [r["reason"] for r in rejects] == ["bad_json", "invalid_fix", "unknown_device"]
    assert all(r["topic"].startswith(f"traccar/{city}/") for r in rejects)
    drops = sql(db_url, "SELECT reason, fixes FROM privacy_drops WHERE vehicle_id = 'truck-1'")
    assert [(d["reason"], d["fixes"]) for d in drops] == [("off_duty", 1)]  # stored nowhere, counted once
    v = worker.value
    assert v("fleetpilot_ingest_dialect_messages_total", dialect="traccar", outcome="received") == len(messages)
    assert v("fleetpilot_ingest_dialect_messages_total", dialect="traccar", outcome="rejected") == 3
    assert v("fleetpilot_ingest_dialect_messages_total", dialect="traccar", outcome="ignored") == 1


# --- over HTTP (forward.type=json) ----------------------------------------------------------


def _client(db_url: str, city: str) -> TestClient:
    settings = Settings(database_url=db_url, city=city, jwt_secret="t" * 32, _env_file=None)
    return TestClient(create_app(settings, pool_size=2, warm_up=False))


def _issue(db_url: str, dialect: str, device_id: str | None = None) -> tuple[str, str]:
    import asyncpg

    async def go():
        conn = await asyncpg.connect(db_url)
        try:
            return await tokens.issue(conn, dialect, "test server", device_id)
        finally:
            await conn.close()

    return run(go())


@pytest.mark.integration
def test_traccar_over_http_answers_after_commit_and_is_idempotent(db_url, city):
    start = on_duty_vehicle(db_url, city)
    token_id, token = _issue(db_url, "traccar")
    t0 = start + 10 * 60_000
    auth = {"Authorization": f"Bearer {token}"}
    braking = traccar_position(t0, LAT, LON, alarm="hardBraking")
    with _client(db_url, city) as client:
        url = "/api/v1/ingest/traccar"
        body = traccar_position_data(UNIQUE_ID, braking)
        answer = client.post(url, json=body, headers=auth)
        assert answer.status_code == 200 and answer.json() == {"outcome": "stored"}
        # Committed before the answer: visible on another connection right now.
        assert len(sql(db_url, "SELECT 1 FROM fixes")) == 1
        assert client.post(url, json=body, headers=auth).json() == {"outcome": "duplicate"}  # a retry
        ev = traccar_event_data(UNIQUE_ID, braking, "alarm", "hardBraking")
        assert client.post(url, json=ev, headers=auth).status_code == 200
        assert len(sql(db_url, "SELECT 1 FROM fixes")) == 1
        assert len(sql(db_url, "SELECT 1 FROM events WHERE kind = 'harsh_brake'")) == 1
        unknown = traccar_position_data("000000000000000", traccar_position(t0 + 1000, LAT, LON))
        assert client.post(url, json=unknown, headers=auth).json() == {"outcome": "unknown_device"}
        assert [r["reason"] for r in sql(db_url, "SELECT reason FROM rejects")] == ["unknown_device"]
        metrics = client.get("/api/v1/ingest/metrics").text
        assert 'fleetpilot_ingest_dialect_messages_total{dialect="traccar",outcome="received"} 4.0' in metrics


@pytest.mark.integration
def test_traccar_http_refuses_bad_and_revoked_tokens_storing_nothing(db_url, city):
    start = on_duty_vehicle(db_url, city)
    token_id, token = _issue(db_url, "traccar")
    body = traccar_position_data(UNIQUE_ID, traccar_position(start + 60_000, LAT, LON))
    with _client(db_url, city) as client:
        url = "/api/v1/ingest/traccar"
        assert client.post(url, json=body).status_code == 401
        assert client.post(url, json=body, headers={"Authorization": "Bearer fpt_x_y"}).status_code == 401
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        assert client.post(url, json=body, headers={"Authorization": f"Bearer {forged}"}).status_code == 401
        sql(db_url, "UPDATE ingest_tokens SET revoked_at = now() WHERE token_id = $1", token_id)
        assert client.post(url, json=body, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"] == 0
    assert sql(db_url, "SELECT count(*) AS n FROM rejects")[0]["n"] == 0


@pytest.mark.integration
def test_traccar_http_answers_503_while_the_database_is_away_then_stores_once(db_url, city):
    from fleetpilot.ingest.http import HttpIngest

    start = on_duty_vehicle(db_url, city)
    _, token = _issue(db_url, "traccar")
    body = traccar_position_data(UNIQUE_ID, traccar_position(start + 60_000, LAT, LON))
    auth = {"Authorization": f"Bearer {token}"}
    with _client(db_url, city) as client:
        client.app.state.trackers = HttpIngest("postgresql://postgres@127.0.0.1:9/nowhere", city)
        answer = client.post("/api/v1/ingest/traccar", json=body, headers=auth)
        assert answer.status_code == 503  # Traccar's PositionForwardingHandler retries non-2xx
        client.app.state.trackers = None  # the database is back
        assert client.post("/api/v1/ingest/traccar", json=body, headers=auth).status_code == 200
        assert client.post("/api/v1/ingest/traccar", json=body, headers=auth).status_code == 200
    assert sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"] == 1


@pytest.mark.integration
def test_traccar_server_token_from_the_cli_works_until_revoked(db_url, city):
    import os
    import re
    import subprocess
    import sys

    start = on_duty_vehicle(db_url, city)
    env = {**os.environ, "FLEETPILOT_DATABASE_URL": db_url, "FLEETPILOT_ENV_FILE": "/nonexistent"}

    def devices(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "fleetpilot.cli", "devices", *args], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    out = devices("traccar-server", "metro-traccar")
    token = re.search(r"^http token: (\S+)$", out, re.M).group(1)
    token_id = re.search(r"^http token id: (\S+)$", out, re.M).group(1)
    assert (
        sql(
            db_url,
            "SELECT count(*) AS n FROM ingest_tokens WHERE secret_sha256 = sha256($1::bytea)",
            token.split("_", 2)[2].encode(),
        )[0]["n"]
        == 1
    )
    auth = {"Authorization": f"Bearer {token}"}
    with _client(db_url, city) as client:
        url = "/api/v1/ingest/traccar"
        first = traccar_position_data(UNIQUE_ID, traccar_position(start + 60_000, LAT, LON))
        assert client.post(url, json=first, headers=auth).status_code == 200
        devices("revoke", token_id)
        second = traccar_position_data(UNIQUE_ID, traccar_position(start + 61_000, LAT, LON))
        assert client.post(url, json=second, headers=auth).status_code == 401
    assert sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"] == 1  # the revoked token's position: nowhere


def test_hdop_attribute_stands_in_for_unknown_accuracy():
    pos = traccar_position(1_714_557_600_000, LAT, LON, accuracy=0.0)
    pos["attributes"]["hdop"] = 1.4
    assert traccar.decode(traccar_position_data(UNIQUE_ID, pos)).fixes[0][5] == 1.4
    pos["accuracy"] = 20.0  # a measured accuracy wins
    assert traccar.decode(traccar_position_data(UNIQUE_ID, pos)).fixes[0][5] == 4.0


@pytest.mark.integration
def test_traccar_http_privacy_zone_and_oversize(db_url, city):
    start = on_duty_vehicle(db_url, city)
    sql(
        db_url,
        "INSERT INTO privacy_zones (name, lon, lat, radius_m) VALUES ('break room', $1, $2, 150)",
        LON + 0.0005,
        LAT,
    )
    _, token = _issue(db_url, "traccar")
    auth = {"Authorization": f"Bearer {token}"}
    with _client(db_url, city) as client:
        url = "/api/v1/ingest/traccar"
        inside = traccar_position_data(UNIQUE_ID, traccar_position(start + 60_000, LAT, LON))  # ~47 m from the centre
        assert client.post(url, json=inside, headers=auth).json() == {"outcome": "stored"}
        big = traccar_position_data(UNIQUE_ID, traccar_position(start + 61_000, LAT, LON + 0.01))
        big["position"]["attributes"]["raw"] = "x" * 300_000
        assert client.post(url, json=big, headers=auth).json() == {"outcome": "too_large"}
    [row] = sql(db_url, "SELECT lon, lat, heading_deg, generalised FROM fixes")
    assert (row["lon"], row["lat"], row["heading_deg"], row["generalised"]) == (LON + 0.0005, LAT, None, True)
    assert [r["reason"] for r in sql(db_url, "SELECT reason FROM rejects")] == ["too_large"]
    assert [(d["reason"], d["fixes"]) for d in sql(db_url, "SELECT reason, fixes FROM privacy_drops")] == [
        ("privacy_zone", 1)
    ]


@pytest.mark.integration
def test_traccar_http_cuts_off_a_huge_chunked_body(db_url, city):
    on_duty_vehicle(db_url, city)
    _, token = _issue(db_url, "traccar")

    def chunks():  # no Content-Length: the size is only known by reading
        for _ in range(64):
            yield b"x" * 65536

    with _client(db_url, city) as client:
        answer = client.post("/api/v1/ingest/traccar", content=chunks(), headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 413
    assert sql(db_url, "SELECT count(*) AS n FROM rejects")[0]["n"] == 0


@pytest.mark.integration
@pytest.mark.broker
def test_each_way_in_has_its_own_counters(db_url, city, mqtt_url, start_worker):
    from ingest_kit import fix, telemetry

    start = on_duty_vehicle(db_url, city)
    worker = start_worker()
    t0 = start + 5 * 60_000
    pub = Publisher(mqtt_url, city)
    try:
        pub.send("truck-1", "telemetry", telemetry("truck-1", 1, [fix(t0), fix(t0 + 1000)]))
        pub.send("truck-1", "telemetry", b"{not json")
        pub.send(
            "",
            "",
            orjson.dumps(traccar_position_data(UNIQUE_ID, traccar_position(t0 + 5000, LAT, LON))),
            topic=f"traccar/{city}/positions",
        )
        pub.flush()
    finally:
        pub.close()
    wait_until(lambda: worker.worker.totals["acked"] >= 3, 30, "three messages acknowledged")
    counts = {
        (d, o): worker.value("fleetpilot_ingest_dialect_messages_total", dialect=d, outcome=o)
        for d in ("v1", "traccar")
        for o in ("received", "rejected", "rows")
    }
    assert counts == {
        ("v1", "received"): 2,
        ("v1", "rejected"): 1,
        ("v1", "rows"): 2,
        ("traccar", "received"): 1,
        ("traccar", "rejected"): 0,
        ("traccar", "rows"): 1,
    }
