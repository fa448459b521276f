"""The pipelined rollup writes what the sequential one wrote.

1. The column-wise row builders (exposure rows, what-if leg rows) give exactly the rows of the
   per-row loops they replaced (kept below as the reference, as they were before).
2. Batches of 2 shifts, pipelined (several batches in flight: one analysed in a thread while
   the previous one is written and the next one read), write the same rows in every result
   table as one batch of every shift."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import asyncpg
import numpy as np
from support import run

from fleetpilot.analytics.pipeline import analyse, cell_events, segment_events
from fleetpilot.analytics.whatif.assemble import plan_index, prepare_shift
from fleetpilot.analytics.whatif.history import EVENT_KINDS, LEG_KINDS
from fleetpilot.db.importer import init_codecs
from fleetpilot.event_kinds import SEGMENT_EXPOSURE
from fleetpilot.localtime import local_day
from fleetpilot.rollup import compute, job, queue
from fleetpilot.rollup.whatif import prepare
from fleetpilot.rollup.whatif.queries import LEG_COLUMNS
from fleetpilot.simload import load_run
from fleetpilot_bench.rollup import EMPTY_RESULTS
from fleetsim.offline import generate_fleet

TABLES = {
    "shift_metrics": "SELECT * FROM shift_metrics ORDER BY shift_id",
    "shift_events": "SELECT * FROM shift_events ORDER BY shift_id, ts, kind",
    "cell_exposure": "SELECT * FROM cell_exposure ORDER BY shift_id, cell_id",
    "segment_exposure": "SELECT * FROM segment_exposure ORDER BY shift_id, segment_id",
    "shift_tracks": "SELECT * FROM shift_tracks ORDER BY shift_id",
    "whatif_legs": "SELECT * FROM whatif_legs ORDER BY shift_id, leg",
    "whatif_stop_visits": "SELECT * FROM whatif_stop_visits ORDER BY shift_id, stop_seq",
    "whatif_prepared": "SELECT shift_id, fixes, events, legs FROM whatif_prepared ORDER BY shift_id",
}


def _old_cell_rows(analysis, city, shifts, days):
    track, cell, passes = analysis.cell_passes
    table = {(int(t), int(c)): [int(p), 0, 0, 0, 0] for t, c, p in zip(track, cell, passes)}
    for k, kind in enumerate(compute.CELL_KINDS, start=1):
        for t, c, n in zip(*cell_events(analysis, city, [kind])):
            table.setdefault((int(t), int(c)), [0, 0, 0, 0, 0])[k] += int(n)
    return [(c, days[t], shifts[t]["shift_id"], *v) for (t, c), v in table.items()]


def _old_segment_rows(analysis, city, shifts, days):
    track, line, passes, mean_speed = analysis.segment_passes[:4]
    table = {(int(t), int(s)): [int(n), 0, 0, float(v)] for t, s, n, v in zip(track, line, passes, mean_speed)}
    for k, kind in enumerate(SEGMENT_EXPOSURE, start=1):
        for t, s, n in zip(*segment_events(analysis, [kind])):
            table.setdefault((int(t), int(s)), [0, 0, 0, None])[k] += int(n)
    ids = city.streets.ids
    return [
        (str(ids[s]), days[t], shifts[t]["shift_id"], n, b, sp, None if v is None or not math.isfinite(v) else v)
        for (t, s), (n, b, sp, v) in table.items()
    ]


def _old_leg_records(shift_id, legs, city):
    seg_ids, fac_ids = city.network.segment_ids, city.facilities.facility_ids
    records = []
    for i in range(len(legs)):
        s, f = int(legs.segment[i]), int(legs.facility[i])
        records.append(
            (
                shift_id,
                i,
                LEG_KINDS[legs.kind[i]],
                str(seg_ids[s]) if s >= 0 else None,
                bool(legs.forward[i]),
                str(fac_ids[f]) if f >= 0 else None,
                datetime.fromtimestamp(float(legs.t0[i]), timezone.utc),
                float(legs.duration_s[i]),
                float(legs.moving_s[i]),
                float(legs.length_m[i]),
                float(np.nan_to_num(legs.max_speed_mps[i])),
                *(int(legs.events[i, k]) for k in range(len(EVENT_KINDS))),
            )
        )
    return records


def _fleet():
    start = (datetime.now(timezone.utc) - timedelta(days=2)).strftime("%Y-%m-%dT06:00:00Z")
    return generate_fleet(n_vehicles=5, days=1, seed=9, hours=2.5, start=start)


def test_column_wise_rows_equal_the_per_row_loops(db_url):
    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            await load_run(conn, _fleet())
            await queue.enqueue(conn, datetime.now(timezone.utc))
            shifts = await queue.claim(conn, "test", 100, 60)
            city = await job.load_city(conn)
            assert city is not None
            args = ([s["vehicle_id"] for s in shifts], [s["starts_at"] for s in shifts], [s["ends_at"] for s in shifts])
            fixes, device = await job._read_batch(conn, args)
            legs = await job.LegContext.load(conn, city)
            plans = await legs.plans(conn, shifts)
            return shifts, city, fixes, device, legs, plans
        finally:
            await conn.close()

    shifts, city, fixes, device, legs, plans = run(body())
    assert len(shifts) == 5
    analysis = analyse(fixes, city, [None] * len(shifts), device=device)
    days = [local_day(s["starts_at"], "UTC") for s in shifts]
    old_cells = _old_cell_rows(analysis, city, shifts, days)
    old_segments = _old_segment_rows(analysis, city, shifts, days)
    assert len(old_cells) > 1000 and any(r[4:] != (0, 0, 0, 0) for r in old_cells)
    assert any(r[4] or r[5] for r in old_segments)  # event counts merged in
    assert any(r[6] is None for r in old_segments) or all(r[3] > 0 for r in old_segments)
    batch = prepare.prepare_batch(legs.city, plans, shifts, fixes, device)
    old_legs = []
    for i, shift in enumerate(shifts):
        bounds = np.searchsorted(fixes.vehicle, [i, i + 1])
        ebounds = np.searchsorted(device.vehicle, [i, i + 1])
        leg_cols, _, _ = prepare_shift(
            legs.city,
            plans,
            plan_index(plans, shift["route_id"], shift["route_version"]),
            prepare._track(fixes, *bounds),
            prepare._track(device, *ebounds),
        )
        old_legs += _old_leg_records(shift["shift_id"], leg_cols, legs.city)
    assert len(old_legs) > 100
    # What the numpy-encoded rows store equals what the per-row tuples stored.
    compared = {
        "cell_exposure": (compute.cell_rows(analysis, city, shifts, days), old_cells, compute.CELL_COLUMNS),
        "segment_exposure": (compute.segment_rows(analysis, city, shifts, days), old_segments, compute.SEGMENT_COLUMNS),
        "whatif_legs": (batch.legs, old_legs, LEG_COLUMNS),
    }
    assert _stored_differences(db_url, compared) == {name: (len(old), 0) for name, (_, old, _) in compared.items()}


def _stored_differences(db_url, compared) -> dict:
    """Per table: (rows stored from the numpy columns, rows differing from those of the tuples)."""

    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            out = {}
            for table, (rows, tuples, columns) in compared.items():
                await conn.execute(
                    f"CREATE TEMP TABLE a_{table} (LIKE {table}); CREATE TEMP TABLE b_{table} (LIKE {table})"
                )
                await rows.copy_to(conn, f"a_{table}")
                await conn.copy_records_to_table(f"b_{table}", records=tuples, columns=list(columns))
                a, b = f"a_{table}", f"b_{table}"
                out[table] = (
                    await conn.fetchval(f"SELECT count(*) FROM {a}"),
                    await conn.fetchval(
                        f"SELECT count(*) FROM ((TABLE {a} EXCEPT ALL TABLE {b}) UNION ALL (TABLE {b} EXCEPT ALL TABLE {a})) d"
                    ),
                )
            return out
        finally:
            await conn.close()

    return run(body())


def test_pipelined_batches_write_what_one_batch_writes(db_url):
    async def snapshot(conn) -> dict:
        out = {}
        for table, query in TABLES.items():
            rows = [dict(r) for r in await conn.fetch(query)]
            for r in rows:
                r.pop("computed_at", None)
            out[table] = rows
        return out

    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            await load_run(conn, _fleet())
            await init_codecs(conn)
            one = await job.run_rollup(conn, batch_size=100, whatif=True, tz="UTC")
            whole = await snapshot(conn)
            seen: list[tuple[int, int]] = []
            pipelined = await job.run_rollup(
                conn,
                recompute_all=True,
                batch_size=2,
                whatif=True,
                tz="UTC",
                progress=lambda shifts, fixes: seen.append((shifts, fixes)),
            )
            batched = await snapshot(conn)
            # A first rollup again, written on a second connection while the first reads.
            await conn.execute(EMPTY_RESULTS)
            writer = await asyncpg.connect(db_url)
            try:
                written = await job.run_rollup(conn, batch_size=2, whatif=True, tz="UTC", writer=writer)
            finally:
                await writer.close()
            return one, whole, pipelined, batched, seen, written, await snapshot(conn)
        finally:
            await conn.close()

    one, whole, pipelined, batched, seen, written, by_writer = run(body())
    assert one.shifts == pipelined.shifts == written.shifts == 5
    assert [s for s, _ in seen] == [2, 2, 1] and sum(f for _, f in seen) == pipelined.fixes == one.fixes
    assert all(whole[t] for t in TABLES)
    for table in TABLES:
        assert batched[table] == whole[table], table
        assert by_writer[table] == whole[table], table


# The batch's events as they were read before fleetpilot.db.arrays: a row each.
OLD_BATCH_EVENTS = """
SELECT s.ord::int - 1 AS track, (extract(epoch FROM e.ts) * 1000)::bigint AS t, e.kind,
       e.lon, e.lat, e.magnitude, e.speed_mps
FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) WITH ORDINALITY AS s(vehicle_id, starts_at, ends_at, ord)
JOIN events e ON e.vehicle_id = s.vehicle_id AND e.ts >= s.starts_at AND e.ts < s.ends_at
ORDER BY s.ord, e.ts, e.kind
"""


def test_events_read_per_shift_equal_the_rows(db_url):
    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            await load_run(conn, _fleet())
            # A NULL position and magnitude, as a device may send them, and two kinds at one time.
            await conn.execute(
                "UPDATE events SET lon = NULL, lat = NULL, magnitude = NULL WHERE ts = (SELECT min(ts) FROM events)"
            )
            await conn.execute(
                "INSERT INTO events (vehicle_id, ts, kind, lon, lat) "
                "SELECT vehicle_id, ts, 'ignition_on', lon, lat FROM events WHERE ts = (SELECT max(ts) FROM events) LIMIT 1"
            )
            await queue.enqueue(conn, datetime.now(timezone.utc))
            shifts = await queue.claim(conn, "test", 100, 60)
            args = ([s["vehicle_id"] for s in shifts], [s["starts_at"] for s in shifts], [s["ends_at"] for s in shifts])
            _, device = await job._read_batch(conn, args)
            return device, await conn.fetch(OLD_BATCH_EVENTS, *args)
        finally:
            await conn.close()

    device, rows = run(body())
    assert len(rows) > 50 and any(r["lon"] is None for r in rows)
    nan = lambda v: np.nan if v is None else v  # noqa: E731
    expected = {
        "vehicle": np.array([r["track"] for r in rows], dtype=np.int32),
        "t": np.array([r["t"] for r in rows], dtype=np.int64),
        "kind": np.array([r["kind"] for r in rows], dtype=str),
        "lon": np.array([nan(r["lon"]) for r in rows]),
        "lat": np.array([nan(r["lat"]) for r in rows]),
        "mag": np.array([nan(r["magnitude"]) for r in rows]),
        "speed": np.array([nan(r["speed_mps"]) for r in rows]),
    }
    for name, values in expected.items():
        got = getattr(device, name)
        assert got.dtype == values.dtype, name
        assert np.array_equal(got, values, equal_nan=values.dtype.kind == "f"), name
