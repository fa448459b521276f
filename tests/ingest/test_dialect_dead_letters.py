"""Hostile input through the tracker ways in (issues 13 and 17): every kind of message a
Traccar server or an OwnTracks phone can send that fleetpilot refuses or drops, each carrying
its own recognisable position, over HTTP and over the real broker. Afterwards the good
messages beside them are stored once, each refusal is a dead letter with a reason, and no table
of the database holds a digit run of any refused or off-duty position."""

from __future__ import annotations

import base64
import time
import warnings

import orjson
import pytest
from ingest_kit import HOUR_MS, Publisher, all_rows_as_text, register, sql, wait_until
from support import run
from trackers_formats import owntracks_location, traccar_position, traccar_position_data

from fleetpilot.ingest.dialects import tokens
from fleetpilot.settings import Settings

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
from fastapi.testclient import TestClient  # noqa: E402

from fleetpilot.api.app import create_app  # noqa: E402

pytestmark = pytest.mark.integration
UNIQUE_ID = "864275071234567"
GOOD_LAT, GOOD_LON = 32.7767, -96.797


def hostile(n: int) -> tuple[float, float, list[str]]:
    """Message n's position and the digit runs that would betray it: 32.n4n4n4, -96.n7n7n7."""
    return float(f"32.{n}4{n}4{n}4"), float(f"-96.{n}7{n}7{n}7"), [f"{n}4{n}4{n}4", f"{n}7{n}7{n}7"]


def on_duty(db_url: str, city: str) -> int:
    now = int(time.time() * 1000)
    start = (now - 2 * HOUR_MS) // 1000 * 1000
    register(db_url, city, "truck-1", [(start, now + HOUR_MS)])
    for device_id, dialect, external_id in (("trc-1", "traccar", UNIQUE_ID), ("ot-1", "owntracks", "ana/phone1")):
        sql(
            db_url,
            "INSERT INTO devices (device_id, vehicle_id, dialect, external_id) VALUES ($1, 'truck-1', $2, $3)",
            device_id,
            dialect,
            external_id,
        )
    return start


def issue(db_url: str, dialect: str, device_id: str | None) -> str:
    import asyncpg

    async def go():
        conn = await asyncpg.connect(db_url)
        try:
            return (await tokens.issue(conn, dialect, "hostile test", device_id))[1]
        finally:
            await conn.close()

    return run(go())


def traccar_hostile(start: int) -> list[tuple[bytes, list[str]]]:
    """(payload, betraying digit runs) for each refusal or drop a Traccar server can meet."""
    t = start + 20 * 60_000
    out = []
    lat, lon, runs = hostile(1)
    out.append((orjson.dumps(traccar_position_data("000000000000001", traccar_position(t, lat, lon))), runs))
    lat, lon, runs = hostile(2)
    out.append((orjson.dumps(traccar_position_data(UNIQUE_ID, traccar_position(t, lat, lon, valid=False))), runs))
    lat, lon, runs = hostile(3)
    outdated = {**traccar_position(t + 1000, lat, lon), "outdated": True}
    out.append((orjson.dumps(traccar_position_data(UNIQUE_ID, outdated)), runs))
    lat, lon, runs = hostile(4)  # off duty: dropped and counted, never stored
    out.append((orjson.dumps(traccar_position_data(UNIQUE_ID, traccar_position(start - 60_000, lat, lon))), runs))
    lat, lon, runs = hostile(5)  # truncated JSON
    out.append((orjson.dumps(traccar_position_data(UNIQUE_ID, traccar_position(t + 2000, lat, lon)))[:-40], runs))
    lat, lon, runs = hostile(6)  # a field of the wrong type
    wrong = {**traccar_position(t + 3000, lat, lon), "fixTime": [lat, lon]}
    out.append((orjson.dumps(traccar_position_data(UNIQUE_ID, wrong)), runs))
    return out


def owntracks_hostile(start: int) -> list[tuple[bytes, list[str]]]:
    t = (start + 20 * 60_000) // 1000
    out = []
    lat, lon, runs = hostile(7)  # off duty (at another time than Traccar's: one vehicle, one fix a time)
    out.append((orjson.dumps(owntracks_location((start - 120_000) // 1000, lat, lon)), runs))
    lat, lon, runs = hostile(8)  # no time
    out.append((orjson.dumps({"_type": "location", "lat": lat, "lon": lon}), runs))
    lat, lon, runs = hostile(9)  # truncated JSON
    out.append((orjson.dumps(owntracks_location(t, lat, lon))[:-10], runs))
    return out


def assert_nothing_betrays(db_url: str, runs: list[str]) -> None:
    text = all_rows_as_text(db_url)
    leaked = [r for r in runs if r in text]
    assert not leaked, f"digit runs of refused or off-duty positions found in the database: {leaked}"


def test_refused_tracker_messages_over_http_leave_no_position(db_url, city):
    start = on_duty(db_url, city)
    traccar_token = issue(db_url, "traccar", None)
    phone_token = issue(db_url, "owntracks", "ot-1")
    settings = Settings(database_url=db_url, city=city, jwt_secret="t" * 32, _env_file=None)
    good_t = start + 10 * 60_000
    runs: list[str] = []
    with TestClient(create_app(settings, pool_size=2, warm_up=False)) as client:
        bearer = {"Authorization": f"Bearer {traccar_token}", "Content-Type": "application/json"}
        url = "/api/v1/ingest/traccar"
        good = orjson.dumps(traccar_position_data(UNIQUE_ID, traccar_position(good_t, GOOD_LAT, GOOD_LON)))
        assert client.post(url, content=good, headers=bearer).status_code == 200
        statuses = []
        for payload, betraying in traccar_hostile(start):
            runs += betraying
            statuses.append(client.post(url, content=payload, headers=bearer).status_code)
        # Refusals are answered 2xx or 4xx (Traccar must not retry them forever), never 5xx.
        assert all(s < 500 for s in statuses), statuses
        basic = base64.b64encode(f"ana:{phone_token}".encode()).decode()
        phone = {"Authorization": f"Basic {basic}", "Content-Type": "application/json"}
        url = "/api/v1/ingest/owntracks"
        good = orjson.dumps(owntracks_location(good_t // 1000 + 5, GOOD_LAT, GOOD_LON))
        assert client.post(url, content=good, headers=phone).status_code == 200
        for payload, betraying in owntracks_hostile(start):
            runs += betraying
            assert client.post(url, content=payload, headers=phone).status_code < 500
        # A retry of the good position is not a second row.
        assert client.post(url, content=good, headers=phone).status_code == 200

    assert sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"] == 2
    reasons = sorted(r["reason"] for r in sql(db_url, "SELECT reason FROM rejects"))
    assert len(reasons) == 7 and all(reasons), reasons  # 5 Traccar + 2 OwnTracks refusals, each with a reason
    drops = sql(db_url, "SELECT sum(fixes) AS n FROM privacy_drops WHERE reason = 'off_duty'")
    assert drops[0]["n"] == 2
    assert_nothing_betrays(db_url, runs)


@pytest.mark.broker
def test_refused_tracker_messages_over_the_broker_leave_no_position(db_url, city, mqtt_url, start_worker):
    start = on_duty(db_url, city)
    ot_base = f"{city}/owntracks"
    worker = start_worker(owntracks_topic=f"{ot_base}/+/+")
    good_t = start + 10 * 60_000
    positions = f"traccar/{city}/positions"
    messages = [(positions, orjson.dumps(traccar_position_data(UNIQUE_ID, traccar_position(good_t, 32.77, -96.79))))]
    runs: list[str] = []
    for payload, betraying in traccar_hostile(start):
        messages.append((positions, payload))
        runs += betraying
    good_phone = orjson.dumps(owntracks_location(good_t // 1000 + 5, GOOD_LAT, GOOD_LON))
    messages.append((f"{ot_base}/ana/phone1", good_phone))
    for payload, betraying in owntracks_hostile(start):
        messages.append((f"{ot_base}/ana/phone1", payload))
        runs += betraying
    lat, lon, betraying = hostile(0)  # nobody bound bob's phone
    messages.append((f"{ot_base}/bob/phone", orjson.dumps(owntracks_location(good_t // 1000, lat, lon))))
    runs += betraying
    messages.append((f"{ot_base}/ana/phone1", good_phone))  # a redelivery
    pub = Publisher(mqtt_url, city)
    try:
        for topic, payload in messages:
            pub.send("", "", payload, topic=topic)
        pub.flush()
    finally:
        pub.close()
    wait_until(lambda: worker.worker.totals["acked"] >= len(messages), 30, "every message acknowledged")

    assert sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"] == 2
    reasons = sorted(r["reason"] for r in sql(db_url, "SELECT reason FROM rejects"))
    assert len(reasons) == 8 and all(reasons), reasons  # 5 Traccar + 3 OwnTracks refusals
    drops = sql(db_url, "SELECT sum(fixes) AS n FROM privacy_drops WHERE reason = 'off_duty'")
    assert drops[0]["n"] == 2
    assert_nothing_betrays(db_url, runs)
