"""OwnTracks in (issue 17 item 2): the phone app's JSON over MQTT (owntracks/<user>/<device>)
and in HTTP mode, against the real broker and PostgreSQL. Messages come from
tests/trackers_formats.py, written from the OwnTracks booklet's JSON format."""

from __future__ import annotations

import base64
import time
import warnings

import orjson
import pytest
from ingest_kit import HOUR_MS, publish_acked, register, sql
from support import run
from trackers_formats import owntracks_location, owntracks_lwt, owntracks_transition

from fleetpilot.ingest.dialects import owntracks, tokens
from fleetpilot.settings import Settings

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
from fastapi.testclient import TestClient  # noqa: E402

from fleetpilot.api.app import create_app  # noqa: E402

LAT, LON = 32.7767, -96.7970


def on_duty_phone(db_url: str, city: str, identity: str = "ana/phone1", vid: str = "truck-1") -> int:
    now = int(time.time() * 1000)
    start = (now - 2 * HOUR_MS) // 1000 * 1000
    register(db_url, city, vid, [(start, now + HOUR_MS)])
    sql(
        db_url,
        "INSERT INTO devices (device_id, vehicle_id, dialect, external_id) VALUES ($1, $2, 'owntracks', $3)",
        f"ot-{vid}",
        vid,
        identity,
    )
    return start


def test_location_maps_field_by_field():
    decoded = owntracks.decode(owntracks_location(1_714_557_600, LAT, LON, vel_kmh=36, cog=270, acc=25))
    assert decoded.identity is None  # from the topic or the token, never the payload
    assert decoded.fixes == [[1_714_557_600_000, LON, LAT, 10.0, 270, 5.0]]  # km/h → m/s; 25 m → HDOP 5
    bare = owntracks.decode(owntracks_location(1_714_557_600, LAT, LON, vel_kmh=None, cog=None, acc=None))
    assert bare.fixes == [[1_714_557_600_000, LON, LAT, None, None, None]]  # vel is optional
    for other in (owntracks_lwt(1_714_557_600), owntracks_transition(1_714_557_600), {"_type": "waypoints"}):
        assert owntracks.decode(other).ignored
    assert owntracks.decode({"_type": "location", "lat": LAT, "lon": LON}).reason == "wrong_type"  # no tst
    assert owntracks.decode([1, 2]).reason == "schema"


@pytest.mark.integration
@pytest.mark.broker
def test_owntracks_over_mqtt(db_url, city, mqtt_url, start_worker):
    start = on_duty_phone(db_url, city)
    base = f"{city}/owntracks"  # OwnTracks' topic is configurable; per test, so runs never cross-talk
    worker = start_worker(owntracks_topic=f"{base}/+/+")
    t0 = (start + 10 * 60_000) // 1000
    first = orjson.dumps(owntracks_location(t0, LAT, LON, vel_kmh=36, acc=8))
    messages = [
        (f"{base}/ana/phone1", first),
        (f"{base}/ana/phone1", orjson.dumps(owntracks_location(t0 + 5, LAT, LON + 0.0004, vel_kmh=None))),
        (f"{base}/ana/phone1", first),  # a redelivery
        (f"{base}/ana/phone1", orjson.dumps(owntracks_lwt(t0))),
        (f"{base}/ana/phone1", orjson.dumps(owntracks_transition(t0))),
        (f"{base}/ana/phone1", orjson.dumps(owntracks_location((start - 60_000) // 1000, LAT, LON))),  # off duty
        (f"{base}/bob/phone", orjson.dumps(owntracks_location(t0, LAT, LON))),  # nobody bound bob
        (f"{base}/ana/phone1", orjson.dumps({"_type": "location", "lat": LAT, "lon": LON})),
        (f"{base}/ana/phone1", orjson.dumps(owntracks_location(t0 + 7200 + 3600, LAT, LON))),  # 3 h ahead
    ]
    publish_acked(mqtt_url, city, worker, messages)
    fixes = sql(db_url, "SELECT ts, speed_mps, hdop FROM fixes WHERE vehicle_id = 'truck-1' ORDER BY ts")
    assert [(f["speed_mps"], f["hdop"]) for f in fixes] == [(10.0, pytest.approx(1.6)), (None, pytest.approx(1.6))]
    rejects = sql(db_url, "SELECT reason FROM rejects ORDER BY reason")
    # The phone 3 h ahead says so in created_at too: its clock is wrong (issue 19: clock_skew).
    assert [r["reason"] for r in rejects] == ["clock_skew", "unknown_device", "wrong_type"]
    drops = sql(db_url, "SELECT reason, fixes FROM privacy_drops")
    assert [(d["reason"], d["fixes"]) for d in drops] == [("off_duty", 1)]
    v = worker.value
    assert v("fleetpilot_ingest_dialect_messages_total", dialect="owntracks", outcome="received") == len(messages)
    assert v("fleetpilot_ingest_dialect_messages_total", dialect="owntracks", outcome="ignored") == 2
    assert v("fleetpilot_ingest_dialect_messages_total", dialect="owntracks", outcome="rejected") == 3


def _basic(user: str, token: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


@pytest.mark.integration
def test_owntracks_http_mode(db_url, city):
    start = on_duty_phone(db_url, city)

    async def issue():
        import asyncpg

        conn = await asyncpg.connect(db_url)
        try:
            return await tokens.issue(conn, "owntracks", "ana's phone", "ot-truck-1")
        finally:
            await conn.close()

    token_id, token = run(issue())
    t0 = (start + 10 * 60_000) // 1000
    settings = Settings(database_url=db_url, city=city, jwt_secret="t" * 32, _env_file=None)
    with TestClient(create_app(settings, pool_size=2, warm_up=False)) as client:
        url = "/api/v1/ingest/owntracks"
        location = owntracks_location(t0, LAT, LON)
        answer = client.post(url, json=location, headers=_basic("ana", token))
        assert answer.status_code == 200 and answer.json() == []  # the app expects a JSON array
        assert len(sql(db_url, "SELECT 1 FROM fixes")) == 1  # committed before the answer
        assert client.post(url, json=location, headers=_basic("ana", token)).json() == []  # a retry: no 2nd row
        assert client.post(url, json=owntracks_lwt(t0), headers=_basic("ana", token)).status_code == 200
        assert client.post(url, json=location).status_code == 401
        traccar_id, traccar_token = run(_issue_traccar(db_url))
        wrong = client.post(url, json=location, headers={"Authorization": f"Bearer {traccar_token}"})
        assert wrong.status_code == 401  # another dialect's token
        sql(db_url, "UPDATE ingest_tokens SET revoked_at = now() WHERE token_id = $1", token_id)
        later = owntracks_location(t0 + 60, LAT, LON)
        assert client.post(url, json=later, headers=_basic("ana", token)).status_code == 401
    assert len(sql(db_url, "SELECT 1 FROM fixes")) == 1
    assert sql(db_url, "SELECT count(*) AS n FROM rejects")[0]["n"] == 0


async def _issue_traccar(db_url: str):
    import asyncpg

    conn = await asyncpg.connect(db_url)
    try:
        return await tokens.issue(conn, "traccar", "a server")
    finally:
        await conn.close()
