"""Hostile input through the tracker ways in (issues 13 and 17): every kind of message a
Traccar server or an OwnTracks phone can send that fleetpilot refuses or drops, each carrying
its own recognisable position, over HTTP and over the real broker. Afterwards the good
messages beside them are stored once, each refusal is a dead letter with a reason, and no table
of the database holds a digit run of any refused or off-duty position."""

from __future__ import annotations

import base64
import hashlib
import socket
import time
import warnings

import orjson
import pytest
from ingest_kit import HOUR_MS, all_rows_as_text, publish_acked, register, sql
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
    publish_acked(mqtt_url, city, worker, messages)

    assert sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"] == 2
    reasons = sorted(r["reason"] for r in sql(db_url, "SELECT reason FROM rejects"))
    assert len(reasons) == 8 and all(reasons), reasons  # 5 Traccar + 3 OwnTracks refusals
    drops = sql(db_url, "SELECT sum(fixes) AS n FROM privacy_drops WHERE reason = 'off_duty'")
    assert drops[0]["n"] == 2
    assert_nothing_betrays(db_url, runs)


def test_hostile_clients_at_the_protocol_doors_of_a_real_server(db_url, city):
    """`fleetpilot api`'s doors (api/trackers/wire.py, decision 0036: a request answered inside
    uvicorn's protocol, without ASGI) spoken to by hand on one keep-alive connection, as a
    careless or hostile client would: retries, garbage and truncated bodies, NaN/Infinity and
    impossible values, far-future times, off-duty and privacy-zone positions, a body too big
    for the protocol's path (chunked, or over 64 KiB: the ASGI door), an unknown and a
    revoked token, each pipelined behind the others. Every answer comes back on the same
    connection, in order; the good positions are stored once; each refusal is one dead letter
    with a reason and no vehicle guessed from the door's URL; the counters by dialect are
    exact; and no digit run of a refused, off-duty or zoned position is in any table."""
    from ingest_kit import door_post, free_port, read_answers, serve

    from fleetpilot.api.trackers.wire import PROTOCOL

    start = on_duty(db_url, city)
    sql(db_url, "INSERT INTO privacy_zones (name, lon, lat, radius_m) VALUES ('home', -96.70, 32.70, 150)")
    traccar_token = issue(db_url, "traccar", None)
    phone_token = issue(db_url, "owntracks", "ot-1")
    bearer = f"Bearer {traccar_token}"
    basic = "Basic " + base64.b64encode(f"ana:{phone_token}".encode()).decode()
    traccar_url, owntracks_url = "/api/v1/ingest/traccar", "/api/v1/ingest/owntracks"
    t = start + 30 * 60_000

    def at(ms: int, lat: float, lon: float, **position) -> bytes:
        return orjson.dumps(traccar_position_data(UNIQUE_ID, {**traccar_position(ms, lat, lon), **position}))

    runs: list[str] = []
    requests: list[tuple[bytes, int, bytes | None]] = []  # (request, status, body expected or None)

    def expect(request: bytes, status: int, body: bytes | None = None) -> None:
        requests.append((request, status, body))

    stored = b'{"outcome":"stored"}'
    good = at(t, GOOD_LAT, GOOD_LON)
    expect(door_post(traccar_url, good, bearer), 200, stored)
    expect(door_post(traccar_url, good, bearer), 200, b'{"outcome":"duplicate"}')  # a retry
    for payload, betraying in traccar_hostile(start):
        runs += betraying
        expect(door_post(traccar_url, payload, bearer), 200)
    expect(door_post(traccar_url, at(t + 1000, GOOD_LAT, GOOD_LON), bearer), 200, stored)  # good among them
    lat, lon, betraying = hostile(1)
    runs += betraying
    nan = at(t + 2000, lat, lon).replace(str(lat).encode(), b"NaN")
    infinite = at(t + 2000, lat, lon).replace(str(lat).encode(), b"-Infinity")
    for body, reason in (
        (b"\xff\xfe\x00garbage" + str(lon).encode(), b"bad_json"),
        (b"", b"bad_json"),
        (nan, b"bad_json"),
        (infinite, b"bad_json"),
        (at(t + 2000, 91.5, lon), b"out_of_range"),
        (at(t + 2000, lat, lon, speed=1e308), b"out_of_range"),
        (at(t + 2000, lat, lon, fixTime=1e300), b"out_of_range"),
        (at(int(time.time() * 1000) + 3_600_000, lat, lon, serverTime=None), b"future_time"),
    ):
        expect(door_post(traccar_url, body, bearer), 200, b'{"outcome":"' + reason + b'"}')
    # In a privacy zone: stored at the zone's centre, its position nowhere.
    expect(door_post(traccar_url, at(t + 3000, 32.700444, -96.700777), bearer), 200, stored)
    runs += ["700444", "700777"]
    # Off duty with an alarm: neither the fix nor the event is stored.
    lat, lon, betraying = hostile(2)
    runs += betraying
    off = at(start - 5 * 60_000, lat, lon, attributes={"alarm": "hardBraking"})
    expect(door_post(traccar_url, off, bearer), 200, b'{"outcome":"private"}')
    # Past the protocol's path (ASGI door): chunked, and a body over 64 KiB.
    chunked = at(t + 4000, GOOD_LAT, GOOD_LON)
    expect(
        f"POST {traccar_url} HTTP/1.1\r\nHost: x\r\nAuthorization: {bearer}\r\nTransfer-Encoding: chunked\r\n\r\n"
        f"{len(chunked):x}\r\n".encode()
        + chunked
        + b"\r\n0\r\n\r\n",
        200,
        stored,
    )
    expect(door_post(traccar_url, b"{" + b" " * 70_000 + b"}", bearer), 200, b'{"outcome":"schema"}')
    expect(door_post(traccar_url, b" " * 300_000, bearer), 200, b'{"outcome":"too_large"}')
    lat, lon, betraying = hostile(3)
    runs += betraying
    expect(door_post(traccar_url, at(t + 5000, lat, lon), "Bearer fpt_nobody_" + "x" * 30), 401)
    expect(door_post(traccar_url, at(t + 5000, lat, lon), basic), 401)  # a phone's token at Traccar's door
    phone_good = orjson.dumps(owntracks_location((t + 6000) // 1000, GOOD_LAT, GOOD_LON))
    expect(door_post(owntracks_url, phone_good, basic), 200, b"[]")
    for payload, betraying in owntracks_hostile(start):
        runs += betraying
        expect(door_post(owntracks_url, payload, basic), 200, b"[]")
    expect(door_post(owntracks_url, phone_good, basic), 200, b"[]")  # a retry

    port = free_port()
    settings = Settings(database_url=db_url, city=city, jwt_secret="t" * 32, _env_file=None)
    server, thread = serve(create_app(settings, pool_size=2, warm_up=False), port, http=PROTOCOL)
    try:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(requests[0][0])
            answers = read_answers(sock, 1)
            sock.sendall(b"".join(request for request, _, _ in requests[1:]))  # pipelined
            answers += read_answers(sock, len(requests) - 1)
            sql(db_url, "UPDATE ingest_tokens SET revoked_at = now() WHERE device_id = 'ot-1'")
            lat, lon, betraying = hostile(4)
            runs += betraying
            revoked = orjson.dumps(owntracks_location((t + 7000) // 1000, lat, lon))
            sock.sendall(door_post(owntracks_url, revoked, basic))
            answers += read_answers(sock, 1)
            sock.sendall(b"GET /api/v1/ingest/metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            ((_, _, metrics),) = read_answers(sock, 1)
    finally:
        server.should_exit = True
        thread.join(10)

    assert [status for status, _, _ in answers] == [status for _, status, _ in requests] + [401]
    for (_, _, body), (request, _, want) in zip(answers, requests):
        assert want is None or body == want, (request[:80], body)
    fixes = sql(db_url, "SELECT (extract(epoch FROM ts) * 1000)::bigint AS t, lon, lat, generalised FROM fixes")
    assert sorted((r["t"] - t, r["lon"], r["lat"], r["generalised"]) for r in fixes) == [
        (0, GOOD_LON, GOOD_LAT, False),
        (1000, GOOD_LON, GOOD_LAT, False),
        (3000, -96.70, 32.70, True),
        (4000, GOOD_LON, GOOD_LAT, False),
        (6000, GOOD_LON, GOOD_LAT, False),
    ]
    assert sql(db_url, "SELECT count(*) AS n FROM events")[0]["n"] == 0
    rejects = sql(db_url, "SELECT reason, vehicle_id, topic FROM rejects")
    # Each dead letter names the vehicle its device is bound to once the device is known (the
    # payload's uniqueId, the phone's token), else none; never "v1" from the door's URL.
    truck = "truck-1"
    assert sorted((r["reason"], r["vehicle_id"] or "") for r in rejects) == sorted(
        [("unknown_device", ""), ("invalid_fix", truck), ("outdated_fix", truck), ("bad_json", ""), ("schema", truck)]
        + [("bad_json", "")] * 4  # traccar_hostile above; these name no device
        + [("out_of_range", truck)] * 3
        + [("future_time", truck), ("schema", ""), ("too_large", "")]  # `{ }` names no device
        + [("wrong_type", truck), ("bad_json", truck)]  # owntracks_hostile: the token names the phone
    )
    assert {r["topic"] for r in rejects} == {"http:" + traccar_url, "http:" + owntracks_url}
    drops = sql(db_url, "SELECT reason, sum(fixes) AS fixes, sum(events) AS events FROM privacy_drops GROUP BY reason")
    assert sorted((r["reason"], r["fixes"], r["events"]) for r in drops) == [
        ("off_duty", 3, 1),  # traccar_hostile's, the alarm's (fix and event), owntracks_hostile's
        ("privacy_zone", 1, 0),
    ]
    text = metrics.decode()
    for line in (
        'fleetpilot_ingest_dialect_messages_total{dialect="traccar",outcome="received"} 22.0',
        'fleetpilot_ingest_dialect_messages_total{dialect="traccar",outcome="rejected"} 15.0',
        # 6: the revoked token's request too (its row is kept 30 s; the write refused it)
        'fleetpilot_ingest_dialect_messages_total{dialect="owntracks",outcome="received"} 6.0',
        'fleetpilot_ingest_dialect_messages_total{dialect="owntracks",outcome="rejected"} 2.0',
        'fleetpilot_ingest_rows_stored_total{table="fixes"} 5.0',
        'fleetpilot_ingest_rows_duplicate_total{table="fixes"} 2.0',
        'fleetpilot_ingest_rows_private_total{reason="off_duty",table="fixes"} 3.0',
        'fleetpilot_ingest_rows_private_total{reason="off_duty",table="events"} 1.0',
        'fleetpilot_ingest_rows_private_total{reason="privacy_zone",table="fixes"} 1.0',
    ):
        assert line in text, line
    assert_nothing_betrays(db_url, runs)


def broker_dead_letters(db_url: str, mqtt_url: str, city: str, worker, messages: list[tuple[str, bytes]]) -> dict:
    """Publish `messages` (topic, payload) through the real broker; once every one is
    acknowledged, the dead letters' vehicle by the SHA-256 of their payload."""
    publish_acked(mqtt_url, city, worker, messages)
    rows = sql(db_url, "SELECT payload_sha256, reason, vehicle_id FROM rejects")
    return {bytes(r["payload_sha256"]): (r["reason"], r["vehicle_id"]) for r in rows}


def sha(payload: bytes) -> bytes:
    return hashlib.sha256(payload).digest()


@pytest.mark.broker
def test_traccar_dead_letters_over_the_broker_name_the_bound_vehicle_never_the_topic(
    db_url, city, mqtt_url, start_worker
):
    """Traccar's forwarding topic (`traccar/<city>/positions`) carries no vehicle: its third
    segment is `positions`, which may be a real vehicle's name. A refused message from a device
    an admin bound to a vehicle names that vehicle; one whose device is not known names none."""
    start = on_duty(db_url, city)
    register(db_url, city, "positions", [])  # a real vehicle named like the topic's segment
    worker = start_worker()
    topic = f"traccar/{city}/positions"
    t = start + 20 * 60_000
    lat, lon, runs = hostile(1)
    good = orjson.dumps(traccar_position_data(UNIQUE_ID, traccar_position(t, GOOD_LAT, GOOD_LON)))
    unknown = orjson.dumps(traccar_position_data("000000000000001", traccar_position(t, lat, lon)))
    unknown_invalid = orjson.dumps(traccar_position_data("000000000000001", traccar_position(t, lat, lon, valid=False)))
    truncated = orjson.dumps(traccar_position_data(UNIQUE_ID, traccar_position(t + 1000, lat, lon)))[:-40]
    invalid = orjson.dumps(traccar_position_data(UNIQUE_ID, traccar_position(t + 2000, lat, lon, valid=False)))
    ahead = {**traccar_position(int(time.time() * 1000) + HOUR_MS, lat, lon), "serverTime": None}
    future = orjson.dumps(traccar_position_data(UNIQUE_ID, ahead))  # future_time, not clock_skew
    got = broker_dead_letters(
        db_url,
        mqtt_url,
        city,
        worker,
        [(topic, p) for p in (good, unknown, unknown_invalid, truncated, invalid, future)],
    )
    assert {
        "unknown": got.get(sha(unknown)),
        "unknown, invalid": got.get(sha(unknown_invalid)),
        "truncated": got.get(sha(truncated)),
        "bound, invalid": got.get(sha(invalid)),
        "bound, future": got.get(sha(future)),
    } == {
        "unknown": ("unknown_device", None),
        "unknown, invalid": ("invalid_fix", None),
        "truncated": ("bad_json", None),  # the device is not known before its JSON is read
        "bound, invalid": ("invalid_fix", "truck-1"),
        "bound, future": ("future_time", "truck-1"),
    }
    assert len(got) == 5
    assert sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"] == 1
    assert_nothing_betrays(db_url, runs)


@pytest.mark.broker
def test_owntracks_dead_letters_over_the_broker_name_the_bound_vehicle_never_the_user(
    db_url, city, mqtt_url, start_worker
):
    """OwnTracks' topic `.../<user>/<device>` names a phone, not a vehicle (here its third
    segment is the user name). The phone is known from the topic (the broker's ACL binds it to
    the phone's credentials) before its payload is read: every refusal from a bound phone names
    the vehicle it is bound to, even of JSON that does not parse; an unbound phone's, none."""
    start = on_duty(db_url, city)
    register(db_url, city, "bob", [])  # a real vehicle named like the unbound phone's user
    register(db_url, city, "ana", [])
    base = f"{city}/owntracks"
    worker = start_worker(owntracks_topic=f"{base}/+/+")
    t = (start + 20 * 60_000) // 1000
    lat, lon, runs = hostile(2)
    good = orjson.dumps(owntracks_location(t, GOOD_LAT, GOOD_LON))
    stranger = orjson.dumps(owntracks_location(t + 1, lat, lon))
    stranger_truncated = orjson.dumps(owntracks_location(t + 2, lat, lon))[:-10]
    ahead = owntracks_location(int(time.time()) + 3600, lat, lon)
    ahead.pop("created_at", None)
    future = orjson.dumps(ahead)  # future_time, not clock_skew
    no_time = orjson.dumps({"_type": "location", "lat": lat, "lon": lon})
    truncated = orjson.dumps(owntracks_location(t + 3, lat, lon))[:-12]
    messages = [
        (f"{base}/ana/phone1", good),
        (f"{base}/bob/phone", stranger),
        (f"{base}/bob/phone", stranger_truncated),
    ]
    messages += [(f"{base}/ana/phone1", p) for p in (future, no_time, truncated)]
    got = broker_dead_letters(db_url, mqtt_url, city, worker, messages)
    assert {
        "unbound": got.get(sha(stranger)),
        "unbound, truncated": got.get(sha(stranger_truncated)),
        "bound, future": got.get(sha(future)),
        "bound, no time": got.get(sha(no_time)),
        "bound, truncated": got.get(sha(truncated)),
    } == {
        "unbound": ("unknown_device", None),
        "unbound, truncated": ("bad_json", None),
        "bound, future": ("future_time", "truck-1"),
        "bound, no time": ("wrong_type", "truck-1"),
        "bound, truncated": ("bad_json", "truck-1"),
    }
    assert len(got) == 5
    assert sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"] == 1
    assert_nothing_betrays(db_url, runs)
