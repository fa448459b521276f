"""A unit whose clock runs ahead: its rejects are held whole, briefly, and an admin replays them
once the clock is fixed, through the same pipeline (ingest/skewhold.py, ingest/replay.py;
decision 0015)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest
from ingest_kit import fix, register, sql, telemetry, wait_until
from support import run

from fleetpilot.db.maintenance import apply_retention
from fleetpilot.ingest import replay
from fleetpilot.ingest.skewhold import HOLD, hold_rows
from fleetpilot.ingest.write import prepare_connection

MINUTE = 60_000
AHEAD = 10 * MINUTE  # truck-1's clock
OFF_DUTY_LON, OFF_DUTY_LAT = -96.713579, 32.864213  # where it was after its shift: must vanish


async def _audit(conn: asyncpg.Connection, result: replay.ReplayResult) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor_role, action, detail) VALUES ('test', 'replay_skew_held', $1::text::jsonb)",
        json.dumps(result.as_detail()),
    )


def _replay(db_url: str, vehicle: str, offset_s: float | None = None) -> replay.ReplayResult:
    async def go():
        conn = await asyncpg.connect(db_url)
        try:
            return await replay.replay_held(
                conn, vehicle, offset_s=offset_s, audit=_audit, now_ms=int(time.time() * 1000)
            )
        finally:
            await conn.close()

    return run(go())


def _rows_mentioning(db_url: str, needle: str) -> dict[str, int]:
    """Rows of every table in the public schema whose text (payloads as hex too) holds `needle`."""
    tables = [r["t"] for r in sql(db_url, "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'")]
    found = {}
    hexed = needle.encode().hex()
    for table in tables:
        n = sql(
            db_url,
            f"SELECT count(*) AS n FROM {table} x WHERE x::text LIKE '%' || $1 || '%' OR x::text LIKE '%' || $2 || '%'",
            needle,
            hexed,
        )[0]["n"]
        if n:
            found[table] = n
    return found


@pytest.mark.integration
@pytest.mark.broker
@pytest.mark.timeout(120)
def test_a_skewed_units_messages_are_held_and_replayed_through_privacy_once(db_url, city, start_worker, publisher):
    now = int(time.time() * 1000)
    # The shift ended 2 min ago (true time); the unit's clock reads 10 min ahead of the truth.
    register(db_url, city, "truck-1", [(now - 60 * MINUTE, now - 2 * MINUTE)])
    start_worker(skew_store_every_s=0.5)
    sent = now + AHEAD
    on_duty = [now - 4 * MINUTE + i * 1000 for i in range(6)]  # true times, inside the shift
    off_duty = [now - 30_000 + i * 1000 for i in range(4)]  # true times, after its end
    seq = 0
    for times in (on_duty[:2], on_duty[2:4], on_duty[4:]):
        seq += 1
        publisher.send("truck-1", "telemetry", telemetry("truck-1", seq, [fix(t + AHEAD) for t in times], sent=sent))
    for times in (off_duty[:2], off_duty[2:]):
        seq += 1
        fixes = [fix(t + AHEAD, lon=OFF_DUTY_LON, lat=OFF_DUTY_LAT) for t in times]
        publisher.send("truck-1", "telemetry", telemetry("truck-1", seq, fixes, sent=sent))
    # Not held: an unregistered vehicle's skew, and a unit whose clock is right but whose data is not.
    publisher.send("truck-9", "telemetry", telemetry("truck-9", 1, [fix(sent)], sent=sent))
    publisher.send("truck-1", "telemetry", telemetry("truck-1", 50, [fix(sent)]))
    publisher.flush()

    wait_until(lambda: sql(db_url, "SELECT count(*) AS n FROM rejects")[0]["n"] >= 7, 20, "the rejects")
    reasons = sql(db_url, "SELECT vehicle_id, reason, count(*)::int AS n FROM rejects GROUP BY 1, 2 ORDER BY 1, 2")
    assert [tuple(r) for r in reasons] == [
        ("truck-1", "clock_skew", 5),
        ("truck-1", "future_time", 1),
        ("truck-9", "clock_skew", 1),
    ]
    held = sql(db_url, "SELECT vehicle_id, skew_ms FROM skew_held")
    assert len(held) == 5 and {r["vehicle_id"] for r in held} == {"truck-1"}
    assert all(AHEAD - 5000 < r["skew_ms"] < AHEAD + 1000 for r in held)  # measured on each message
    assert sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"] == 0
    # Every message rejected, yet the unit's clock is measured and stored for the admin's list.
    skew = wait_until(
        lambda: sql(db_url, "SELECT clock_skew_s FROM devices WHERE vehicle_id = 'truck-1'")[0]["clock_skew_s"],
        20,
        "truck-1's skew to be stored",
    )
    assert 590 < skew <= 601
    # Held whole (the search below finds them), and only there: the dead letters have no numbers.
    assert _rows_mentioning(db_url, f"{OFF_DUTY_LAT:.6f}") == {"skew_held": 2}

    async def summary():
        conn = await asyncpg.connect(db_url)
        try:
            return await replay.held(conn, city)
        finally:
            await conn.close()

    [row] = run(summary())
    assert row["vehicle_id"] == "truck-1" and row["held"] == 5 and 590 < row["held_skew_s"] <= 601
    assert 590 < row["clock_skew_s"] <= 601

    # The clock is fixed: replay by the skew measured on each message.
    result = _replay(db_url, "truck-1")
    assert (result.messages, result.replayed, result.still_skewed) == (5, 5, 0)
    assert result.measured and 595 <= result.offset_s <= 600
    assert result.fixes_stored == 6 and result.duplicates == 0
    assert result.not_stored == {"off_duty": 4}
    stored = sql(db_url, "SELECT (extract(epoch FROM ts) * 1000)::bigint AS t FROM fixes ORDER BY ts")
    # Corrected to within the few ms between the unit's `sent` and the broker's delivery.
    assert len(stored) == 6 and all(abs(s["t"] - t) < 2000 for s, t in zip(stored, on_duty, strict=True))
    drops = sql(db_url, "SELECT reason, sum(fixes)::int AS n FROM privacy_drops GROUP BY 1")
    assert {r["reason"]: r["n"] for r in drops} == {"off_duty": 4}
    assert sql(db_url, "SELECT count(*) AS n FROM skew_held WHERE replayed_at IS NULL OR payload <> ''")[0]["n"] == 0
    audit = sql(db_url, "SELECT detail FROM audit_log WHERE action = 'replay_skew_held'")
    assert len(audit) == 1 and json.loads(audit[0]["detail"])["fixes_stored"] == 6
    # Nothing of where the unit was off duty survives: not in fixes, dead letters, the hold, the audit.
    assert _rows_mentioning(db_url, f"{OFF_DUTY_LON:.6f}"[1:]) == {}
    assert _rows_mentioning(db_url, f"{OFF_DUTY_LAT:.6f}") == {}

    # A second replay finds nothing; a redelivery of a replayed message is not held again.
    again = _replay(db_url, "truck-1")
    assert (again.messages, again.fixes_stored) == (0, 0)
    rejects = sql(db_url, "SELECT count(*) AS n FROM rejects")[0]["n"]
    publisher.send("truck-1", "telemetry", telemetry("truck-1", 1, [fix(t + AHEAD) for t in on_duty[:2]], sent=sent))
    publisher.flush()
    wait_until(lambda: sql(db_url, "SELECT count(*) AS n FROM rejects")[0]["n"] > rejects, 20, "the redelivery")
    assert sql(db_url, "SELECT count(*) AS n FROM skew_held WHERE replayed_at IS NULL")[0]["n"] == 0
    assert _replay(db_url, "truck-1").messages == 0
    assert sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"] == 6


@pytest.mark.integration
def test_a_wrong_stated_offset_leaves_the_messages_held_without_a_second_dead_letter(db_url):
    now = int(time.time() * 1000)
    city = "skewcity"
    register(db_url, city, "truck-2", [(now - 60 * MINUTE, now + 60 * MINUTE)])
    payload = json.dumps(telemetry("truck-2", 1, [fix(now + AHEAD)], sent=now + AHEAD)).encode()
    _hold(db_url, [("truck-2", now, f"fleet/{city}/truck-2/telemetry", payload, AHEAD)])
    result = _replay(db_url, "truck-2", offset_s=60)  # the admin guessed 1 min: still 9 min ahead
    assert (result.messages, result.replayed, result.still_skewed, result.fixes_stored) == (1, 0, 1, 0)
    assert sql(db_url, "SELECT count(*) AS n FROM skew_held")[0]["n"] == 1
    assert sql(db_url, "SELECT count(*) AS n FROM rejects")[0]["n"] == 0
    result = _replay(db_url, "truck-2", offset_s=AHEAD / 1000)
    assert (result.replayed, result.fixes_stored) == (1, 1)
    # Replaying the same message by the same offset again stores nothing twice (vehicle, time).
    sql(db_url, "UPDATE skew_held SET replayed_at = NULL, payload = $1", payload)
    result = _replay(db_url, "truck-2", offset_s=AHEAD / 1000)
    assert (result.replayed, result.fixes_stored, result.duplicates) == (1, 0, 1)
    assert sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"] == 1


@pytest.mark.integration
def test_the_hold_is_bounded_per_vehicle_and_expires_by_retention(db_url):
    now = datetime.now(timezone.utc)
    now_ms = int(now.timestamp() * 1000)
    register(db_url, "skewcity", "truck-3", [])
    topic = "fleet/skewcity/truck-3/telemetry"
    rows = [("truck-3", now_ms - i * 1000, topic, b"{%d}" % i, AHEAD) for i in range(5)]
    held = _hold(db_url, rows, bound=3)
    assert held == 3
    assert _hold(db_url, [("truck-3", now_ms, topic, b"{9}", AHEAD)], bound=3) == 0  # full: its dead letter stays
    assert _hold(db_url, rows[-1:], bound=10) == 0  # held already (the oldest three were): not twice
    hours = sql(db_url, "SELECT skew_hold_hours AS h FROM privacy_settings")[0]["h"]
    assert hours == 48
    sql(
        db_url,
        "UPDATE skew_held SET received_at = $1 WHERE held_id = (SELECT min(held_id) FROM skew_held)",
        now - timedelta(hours=hours, seconds=1),
    )

    # An expired row is never replayed, even before retention runs.
    async def listed():
        conn = await asyncpg.connect(db_url)
        try:
            return await replay.held(conn)
        finally:
            await conn.close()

    assert [r["held"] for r in run(listed())] == [2]

    async def retention():
        conn = await asyncpg.connect(db_url)
        try:
            return await apply_retention(conn, now=now)
        finally:
            await conn.close()

    assert run(retention()).skew_held_purged == 1
    assert sql(db_url, "SELECT count(*) AS n FROM skew_held")[0]["n"] == 2


def _hold(db_url: str, rows: list[tuple], bound: int = 20_000) -> int:
    """Rows held the way the ingest's writer holds them; returns how many were taken."""

    async def go():
        conn = await asyncpg.connect(db_url)
        try:
            await prepare_connection(conn)
            status = await conn.execute(HOLD, *hold_rows(rows), bound)
            return int(status.rsplit(" ", 1)[1])
        finally:
            await conn.close()

    return run(go())


@pytest.mark.integration
def test_the_cli_lists_held_messages_in_city_time_and_replays_them_audited(db_url, tmp_path):
    import os
    import subprocess
    import sys

    now = int(time.time() * 1000)
    city = "skewcity"
    register(db_url, city, "truck-4", [(now - 60 * MINUTE, now + 60 * MINUTE)])
    payload = json.dumps(telemetry("truck-4", 1, [fix(now - 1000 + AHEAD)], sent=now + AHEAD)).encode()
    _hold(db_url, [("truck-4", now, f"fleet/{city}/truck-4/telemetry", payload, AHEAD)])
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLEETPILOT_")}
    env = {
        **clean,
        "FLEETPILOT_DATABASE_URL": db_url,
        "FLEETPILOT_CITY": city,
        "FLEETPILOT_TIMEZONE": "America/Chicago",
        "FLEETPILOT_DATA_DIR": str(tmp_path),
    }

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "fleetpilot.cli", "devices", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    listed = cli("held")
    zone = datetime.fromtimestamp(now / 1000, timezone.utc).astimezone(replay_zone()).strftime("%Z")
    assert "truck-4\theld:1\tskew when held:+600 s" in listed and listed.strip().endswith(zone)
    out = cli("replay-skew", "truck-4", "--offset-s", "600")
    assert "1 of 1 held messages replayed (moved back +600 s (stated)); stored 1 fixes" in out
    assert sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"] == 1
    [audit] = sql(db_url, "SELECT actor_role, detail FROM audit_log WHERE action = 'replay_skew_held'")
    assert audit["actor_role"] == "cli" and json.loads(audit["detail"])["offset_s"] == 600
    assert cli("held") == "no messages held for clock skew\n"


def replay_zone():
    from zoneinfo import ZoneInfo

    return ZoneInfo("America/Chicago")
