"""The rollup job over simulator data in a real database: complete, idempotent, incremental."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest
from support import run

from fleetpilot.event_kinds import SAFETY
from fleetpilot.rollup import job
from fleetpilot.rollup.job import run_rollup
from fleetpilot.simload import load_run
from fleetsim.offline import generate_fleet

TABLES = ("shift_metrics", "shift_events", "cell_exposure", "segment_exposure", "shift_tracks")


@pytest.fixture(scope="module")
def fleet():
    # Two whole days that have ended whatever the time of day the suite runs.
    start = (datetime.now(timezone.utc) - timedelta(days=3)).strftime("%Y-%m-%dT06:00:00Z")
    return generate_fleet(n_vehicles=3, days=2, seed=7, hours=4.5, start=start)


async def _snapshot(conn) -> dict:
    snap = {}
    for table in TABLES:
        rows = await conn.fetch(f"SELECT * FROM {table} ORDER BY 1, 2, 3")
        snap[table] = [{k: v for k, v in dict(r).items() if k != "computed_at"} for r in rows]
    return snap


def test_rollup_computes_every_shift_then_is_a_no_op(db_url, fleet, monkeypatch):
    builds = []
    build = job.CityRows.build
    monkeypatch.setattr(job.CityRows, "build", lambda rows, *index: builds.append(1) or build(rows, *index))
    monkeypatch.setattr(job, "_built", {})  # whatever an earlier test in this process built

    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            loaded = await load_run(conn, fleet)
            first = await run_rollup(conn)
            snap = await _snapshot(conn)
            second = await run_rollup(conn)
            again = await _snapshot(conn)
            forced = await run_rollup(conn, recompute_all=True)
            recomputed = await _snapshot(conn)
            kept = len(builds)
            # A street's speed limit changed: the next run builds the city again.
            await conn.execute(
                "UPDATE street_segments SET speed_limit_kmh = speed_limit_kmh + 10 "
                "WHERE segment_id = (SELECT min(segment_id) FROM street_segments)"
            )
            await run_rollup(conn, recompute_all=True)
            return loaded, first, second, forced, snap, again, recomputed, kept
        finally:
            await conn.close()

    loaded, first, second, forced, snap, again, recomputed, kept = run(body())
    # The city was built for the first run and kept for the forced one (the same streets), and
    # built again once a street changed.
    assert (kept, len(builds)) == (1, 2)
    assert first.shifts == loaded["shifts"] == 6 and first.fixes == loaded["fixes"]
    assert second.shifts == 0
    assert snap == again == recomputed  # deterministic and idempotent
    assert all(isinstance(r["metrics"], dict) for r in snap["shift_metrics"])  # jsonb objects, not strings
    assert forced.shifts == 6
    metrics = {r["shift_id"]: r for r in snap["shift_metrics"]}
    truth = {s["shift_id"]: s for s in fleet.truth["shifts"]} if "shifts" in fleet.truth else {}
    for _shift_id, row in metrics.items():
        assert row["distance_m"] > 1000 and 0 <= row["coverage"] <= 1
        assert row["collection_s"] + row["deadhead_s"] + row["facility_s"] + row["break_s"] + row["idle_s"] > 0
    assert {r["shift_id"] for r in snap["cell_exposure"]} == set(metrics)
    safety = dict.fromkeys(metrics, 0)
    for event in snap["shift_events"]:
        safety[event["shift_id"]] += event["kind"] in SAFETY
    assert {k: r["safety_events"] for k, r in metrics.items()} == safety and sum(safety.values()) > 0
    # The route driven, simplified for the crew's map: a few hundred of each shift's fixes.
    tracks = {r["shift_id"]: r for r in snap["shift_tracks"]}
    assert set(tracks) == set(metrics)
    for shift_id, track in tracks.items():
        line = json.loads(track["coordinates"])
        assert track["fixes"] == metrics[shift_id]["fixes"] and track["tolerance_m"] == 10
        assert track["points"] == len(line) and 20 < len(line) < 0.05 * track["fixes"], (len(line), track["fixes"])
    assert all(r["passes"] >= 1 for r in snap["segment_exposure"])
    assert truth == {} or set(truth) == set(metrics)


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def test_each_shift_stores_its_breaks_facility_queues_and_stops(db_url, fleet):
    """The crew record lands in shift_metrics.metrics and the stops in stop_points, for what
    happened inside the shift window (4.5 h here: the transfer station and usually the break;
    the landfill trip comes after the window). Tolerances as in tests/analytics/test_record.py."""

    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            await load_run(conn, fleet)
            await run_rollup(conn)
            return {
                r["shift_id"]: r
                for r in await conn.fetch("SELECT shift_id, stops, metrics, stop_points FROM shift_metrics")
            }
        finally:
            await conn.close()

    rows = run(body())
    breaks = 0
    for shift in fleet.truth["shifts"]:
        row = rows[shift["shift_id"]]
        record = row["metrics"]
        # A visit begun in the window is found even when the window ends before the truck leaves
        # (its fixes stop there); its queue is checked only when it ended inside.
        begun_visits = [v for v in shift["facility_visits"] if v["t_arrive"] < shift["end"]]
        assert [v["facility_id"] for v in record["facility_visits"]] == [v["facility_id"] for v in begun_visits]
        for true, stored in zip(begun_visits, record["facility_visits"]):
            if true["t_depart"] >= shift["end"]:
                continue
            hidden = (
                sum(max(0, min(e, true["t_depart"]) - max(a, true["t_arrive"])) for a, e in shift["gps"]["dropouts"])
                / 1000
            )  # GPS dropouts in the visit
            assert -30 - hidden <= stored["queue_s"] - true["queue_s"] <= 5, (true, stored)
            assert _ms(stored["arrived_at"]) <= true["t_arrive"] + 1000
        begun = [b for b in shift["breaks"] if b["t_start"] < shift["end"] - 120_000]
        assert [b["facility_id"] for b in record["breaks"]] == [b["facility_id"] for b in begun]
        for true, stored in zip(begun, record["breaks"]):
            assert abs(_ms(stored["starts_at"]) - true["t_start"]) <= 60_000
            assert _ms(stored["ends_at"]) <= min(true["t_end"], shift["end"]) + 60_000
        breaks += len(begun)
        assert 0 < record["longest_without_break_s"] <= shift["longest_without_break_s"] + 5
        points = row["stop_points"]
        assert len(points) == row["stops"] > 100 and all(
            set(p) == {"lon", "lat", "arrived_at", "dwell_s"} for p in points
        )
        assert all(shift["start"] <= _ms(p["arrived_at"]) < shift["end"] for p in points)
    assert breaks >= 4  # the fleet does exercise breaks


def test_late_data_recomputes_only_the_marked_vehicle_day(db_url, fleet):
    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            await load_run(conn, fleet)
            await run_rollup(conn)
            before = {
                r["shift_id"]: r["computed_at"]
                for r in await conn.fetch("SELECT shift_id, computed_at FROM shift_metrics")
            }
            target = await conn.fetchrow(
                "SELECT shift_id, vehicle_id, starts_at FROM shifts ORDER BY starts_at, shift_id LIMIT 1"
            )
            # Late data as the ingest records it: some fixes of that shift arrive, and the
            # vehicle-day is marked stale. Here: remove the shift's last hour, as if it had
            # been missing, then mark.
            await conn.execute(
                "DELETE FROM fixes WHERE vehicle_id = $1 AND ts >= $2::timestamptz + interval '3 hours'",
                target["vehicle_id"],
                target["starts_at"],
            )
            await conn.execute(
                "INSERT INTO rollup_dirty (vehicle_id, day) VALUES ($1, ($2 AT TIME ZONE 'UTC')::date)",
                target["vehicle_id"],
                target["starts_at"],
            )
            result = await run_rollup(conn)
            after = {
                r["shift_id"]: r["computed_at"]
                for r in await conn.fetch("SELECT shift_id, computed_at FROM shift_metrics")
            }
            marks = await conn.fetchval("SELECT count(*) FROM rollup_dirty")
            return target["shift_id"], before, after, result, marks
        finally:
            await conn.close()

    shift_id, before, after, result, marks = run(body())
    changed = {s for s in before if before[s] != after[s]}
    assert changed == {shift_id}
    assert result.shifts == 1 and result.cleared_marks == 1 and marks == 0


def test_a_stored_gap_of_forty_minutes_is_no_data_not_missed(db_url, fleet):
    """The rollup stores what the analytics found: 40 minutes of a shift's fixes never
    arrived, so the streets due then are no_data_segments, not missed_segments, and the
    stored coverage leaves them out."""

    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            await load_run(conn, fleet)
            await run_rollup(conn)
            target = await conn.fetchrow(
                "SELECT s.shift_id, s.vehicle_id, s.starts_at, m.coverage, m.missed_segments"
                " FROM shifts s JOIN shift_metrics m USING (shift_id) ORDER BY s.starts_at, s.shift_id LIMIT 1"
            )
            await conn.execute(
                "DELETE FROM fixes WHERE vehicle_id = $1"
                " AND ts >= $2::timestamptz + interval '90 minutes' AND ts < $2::timestamptz + interval '130 minutes'",
                target["vehicle_id"],
                target["starts_at"],
            )
            await conn.execute(
                "INSERT INTO rollup_dirty (vehicle_id, day) VALUES ($1, ($2 AT TIME ZONE 'UTC')::date)",
                target["vehicle_id"],
                target["starts_at"],
            )
            await run_rollup(conn)
            after = await conn.fetchrow(
                "SELECT coverage, missed_segments, no_data_segments FROM shift_metrics WHERE shift_id = $1",
                target["shift_id"],
            )
            planned = await conn.fetchval(
                "SELECT count(*) FROM route_segments rs JOIN shifts s"
                " ON s.route_id = rs.route_id AND s.route_version = rs.version WHERE s.shift_id = $1 AND rs.service",
                target["shift_id"],
            )
            return target, after, planned
        finally:
            await conn.close()

    before, after, planned = run(body())
    unknown, missed = len(after["no_data_segments"]), len(after["missed_segments"])
    assert unknown >= 5, after
    assert set(after["missed_segments"]) <= set(before["missed_segments"])  # nothing newly "missed"
    # Coverage of the known streets: the unknown ones are in neither numerator nor denominator.
    assert after["coverage"] == pytest.approx((planned - unknown - missed) / (planned - unknown), abs=1e-6)
    assert not set(after["no_data_segments"]) & set(after["missed_segments"])


def test_non_finite_numbers_become_null_in_stored_json():
    import numpy as np
    import orjson

    from fleetpilot.rollup.compute import json_text

    value = {"a": float("nan"), "b": [1.5, float("inf")], "c": {"d": -float("inf"), "e": "x"}, "n": np.float64(2.5)}
    assert orjson.loads(json_text(value)) == {
        "a": None,
        "b": [1.5, None],
        "c": {"d": None, "e": "x"},
        "n": 2.5,
    }
