"""Issue 13, item 2: dead letters carry no positions.

Hostile messages of every reject reason, each carrying its own off-duty position, go
through the real broker and worker; afterwards no table of the database holds any of those
coordinates (not even their digits), while each dead letter still says why, where it came
from, how big it was and its hash."""

from __future__ import annotations

import hashlib
import json

import orjson
import pytest
from ingest_kit import acked, all_rows_as_text, fix, now_ms, register, sql, telemetry, wait_until

from fleetpilot.ingest.deadletter import PREFIX_CHARS, dead_letter, scrub_payload

pytestmark = [pytest.mark.integration, pytest.mark.broker]
HOUR = 3_600_000


def _coords(n: int) -> tuple[float, float]:
    """Distinct, recognisable coordinates per message: -96.1n1n1n, 32.2n2n2n."""
    return float(f"-96.{n}1{n}1{n}1"), float(f"32.{n}2{n}2{n}2")


def test_no_table_holds_a_coordinate_of_any_rejected_message(db_url, city, start_worker, publisher):
    t0 = now_ms() - 2 * HOUR
    register(db_url, city, "truck-1", [(t0, t0 + HOUR)])
    worker = start_worker()
    off_duty = t0 + HOUR + 60_000  # after the shift: these positions are private
    hostile: dict[str, tuple[str, bytes | dict, str | None]] = {}
    n = iter(range(1, 10))

    def position(i: int) -> list:
        lon, lat = _coords(i)
        return fix(off_duty, lon=lon, lat=lat)

    i = next(n)
    hostile["bad_json"] = ("truck-1", json.dumps(telemetry("truck-1", 1, [position(i)])).encode()[:-3], None)
    i = next(n)
    big = json.dumps(telemetry("truck-1", 2, [position(i)] * 40_000)).encode()  # ~2 MiB
    assert len(big) > 2 * 1024 * 1024 * 0.9
    hostile["too_large"] = ("truck-1", big, None)
    i = next(n)
    hostile["foreign_vid"] = ("truck-1", telemetry("truck-2", 3, [position(i)]), None)
    i = next(n)
    hostile["unknown_vehicle"] = ("ghost-9", telemetry("ghost-9", 4, [position(i)]), None)
    i = next(n)
    lon, lat = _coords(i)
    hostile["expired"] = ("truck-1", telemetry("truck-1", 5, [fix(t0 - 400 * 24 * HOUR, lon=lon, lat=lat)]), None)
    i = next(n)
    lon, lat = _coords(i)
    hostile["future_time"] = ("truck-1", telemetry("truck-1", 6, [fix(now_ms() + 24 * HOUR, lon=lon, lat=lat)]), None)
    i = next(n)
    hostile["bad_version"] = ("truck-1", {**telemetry("truck-1", 7, [position(i)]), "v": 2}, None)
    i = next(n)
    wrong = position(i)
    wrong[5] = "0.9"  # hdop as a string
    hostile["wrong_type"] = ("truck-1", telemetry("truck-1", 8, [wrong]), None)
    i = next(n)
    lon, lat = _coords(i)
    hostile["bad_topic"] = ("truck-1", telemetry("truck-1", 9, [position(i)]), f"fleet/{city}/{lon},{lat}/telemetry")

    for vid, body, topic in hostile.values():
        publisher.send(vid, "telemetry", body, topic=topic)
    publisher.flush()
    acked(worker, len(hostile))
    wait_until(lambda: sql(db_url, "SELECT count(*) AS n FROM rejects")[0]["n"] >= len(hostile), 20, "dead letters")

    rows = sql(db_url, "SELECT * FROM rejects ORDER BY reject_id")
    assert {r["reason"] for r in rows} == set(hostile)
    text = all_rows_as_text(db_url)
    for k in range(1, i + 1):
        lon, lat = _coords(k)
        for secret in (f"{abs(lon):.6f}", f"{lat:.6f}", f"{abs(lon):.6f}"[3:], f"{lat:.6f}"[3:]):
            assert secret not in text, f"{secret} (message {k}) was stored"
    by_reason = {r["reason"]: r for r in rows}
    for reason, (_vid, body, _topic) in hostile.items():
        raw = body if isinstance(body, bytes) else orjson.dumps(body)  # as the publisher sends it
        row = by_reason[reason]
        assert row["payload_bytes"] == len(raw), reason
        assert bytes(row["payload_sha256"]) == hashlib.sha256(raw).digest(), reason
        assert len(bytes(row["payload"])) <= PREFIX_CHARS * 4, reason
        assert row["received_at"] is not None and row["topic"]
    # Protocol v1's topic is the device's own identity (the broker's ACL binds it to the
    # device's credentials): every dead letter of a v1 topic names it, an unregistered one
    # too; a topic that is not v1's names nothing.
    vehicles = {reason: row["vehicle_id"] for reason, row in by_reason.items()}
    assert vehicles == {**dict.fromkeys(hostile, "truck-1"), "unknown_vehicle": "ghost-9", "bad_topic": None}
    # The shape of a message survives, so an operator can still see what was wrong with it.
    assert b'"fixes"' in bytes(by_reason["bad_version"]["payload"])


@pytest.mark.parametrize(
    "payload",
    [
        b'{"fixes": [[1765000000000, -96.123456, 32.654321, 5, 90, 0.9]]}',
        b"lat=32.654321&lon=-96.123456",
        '{"lat": "\u0663\u0662.\u0666\u0665\u0664"}'.encode(),  # Arabic-Indic digits
        b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0MjEzLjEyMzQ1Ng==",  # base64 of text with a number
        b"\x40\x4a\x53\xc8\x3f\x3e\x2d\x5f",  # a raw float64 (52.65..): not text
    ],
)
def test_scrubbing_leaves_no_digit_and_no_binary(payload):
    kept = scrub_payload(payload)
    assert not any(c.isdigit() for c in kept.decode())
    assert kept == b"" or kept.decode().isprintable() or "\n" in kept.decode()


def test_a_dead_letter_row_keeps_size_hash_and_vehicle_but_bounds_the_payload():
    payload = b'{"v":1,"fixes":[' + b"[1,-96.5,32.5,1,1,1]," * 200_000 + b"]}"
    detail = f"{len(payload)} bytes > 262144"
    row = dead_letter(5, "fleet/metro/truck-7/telemetry", payload, "too_large", detail, "truck-7")
    received, topic, kept, reason, detail, size, digest, vehicle = row
    assert (received, topic, reason, vehicle) == (5, "fleet/metro/truck-7/telemetry", "too_large", "truck-7")
    assert size == len(payload) and digest == hashlib.sha256(payload).digest()
    assert len(kept) <= PREFIX_CHARS and b"96" not in kept and detail == "# bytes > #"
