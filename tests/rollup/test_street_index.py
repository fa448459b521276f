"""The street index stored by what it is built from (migration 0037, decision 0039): a new
rollup process loads the index the last one built, equal to building it, and a changed street
makes the next run build and store a new one."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import asyncpg
import numpy as np
import pytest
from support import run

from fleetpilot.analytics.matching import LineIndex
from fleetpilot.rollup import job, street_index
from fleetpilot.rollup.job import prepare_street_index, read_city, run_rollup
from fleetpilot.simload import load_run
from fleetsim.offline import generate_fleet

FIELDS = ("ids", "length_m", "radius_m", "cell_m", "x0", "y0", "nx", "ny", "label", "along", "order")


@pytest.fixture(scope="module")
def fleet():
    start = (datetime.now(timezone.utc) - timedelta(days=2)).strftime("%Y-%m-%dT06:00:00Z")
    return generate_fleet(n_vehicles=2, days=1, seed=11, hours=3.0, start=start)


def _same(a: LineIndex, b: LineIndex) -> bool:
    return a.frame == b.frame and all(np.array_equal(getattr(a, f), getattr(b, f)) for f in FIELDS)


def test_a_new_process_loads_the_index_the_last_one_built(db_url, fleet, monkeypatch):
    built = []
    build = LineIndex.build
    monkeypatch.setattr(LineIndex, "build", lambda *a, **k: built.append(1) or build(*a, **k))
    monkeypatch.setattr(job, "_built", {})

    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            await load_run(conn, fleet)
            first = await run_rollup(conn)
            rows = await read_city(conn)
            stored = await street_index.load(conn, rows.index_key(), rows.street_ids(), rows.frame)
            in_process = job._built[rows.digest()].streets
            job._built.clear()  # a new process: nothing built
            again = await run_rollup(conn, recompute_all=True)
            builds_before_change = len(built)
            # A street moved: its key changes, the next run builds and replaces the stored index.
            await conn.execute(
                "UPDATE street_segments SET geometry = jsonb_set(geometry, '{coordinates,0,0}', "
                "to_jsonb((geometry #>> '{coordinates,0,0}')::float8 + 0.0001)) "
                "WHERE segment_id = (SELECT min(segment_id) FROM street_segments)"
            )
            job._built.clear()
            await run_rollup(conn, recompute_all=True)
            moved = await read_city(conn)
            keys = [r["built_from"] for r in await conn.fetch("SELECT built_from FROM street_index")]
            rebuilt = await street_index.load(conn, moved.index_key(), moved.street_ids(), moved.frame)
            fresh = build(moved.street_ids(), _lines(moved), moved.frame)
            prepared_again = await prepare_street_index(conn)  # stored: nothing to build
            return (
                first,
                again,
                stored,
                in_process,
                builds_before_change,
                rows,
                moved,
                keys,
                rebuilt,
                fresh,
                prepared_again,
            )
        finally:
            await conn.close()

    first, again, stored, in_process, before, rows, moved, keys, rebuilt, fresh, prepared_again = run(body())
    assert first.shifts == again.shifts == 2
    assert stored is not None and _same(stored, in_process)
    assert before == 1  # built by the first run only; the second process loaded it
    assert rows.index_key() != moved.index_key() and keys == [moved.index_key()]
    assert rebuilt is not None and _same(rebuilt, fresh) and not _same(rebuilt, stored)
    assert len(built) == 2 and prepared_again is False  # the first run and the one after the move


def _lines(rows):
    import shapely

    return shapely.from_geojson([r["g"] for r in rows.streets])


def test_what_if_legs_prepared_on_their_own_load_the_stored_index(db_url, fleet, monkeypatch):
    """`fleetpilot whatif prepare` after `rollup --no-whatif`: the legs' city loads the index the
    rollup stored (its frame is the rollup's while the streets are the ones it first saw) and
    prepares the same legs as with an index built on the spot."""
    from fleetpilot.rollup.whatif.prepare import prepare

    built = []
    build = LineIndex.build
    monkeypatch.setattr(LineIndex, "build", lambda *a, **k: built.append(1) or build(*a, **k))
    monkeypatch.setattr(job, "_built", {})

    async def legs(conn):
        return [tuple(r) for r in await conn.fetch("SELECT * FROM whatif_legs ORDER BY shift_id, leg")]

    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            await load_run(conn, fleet)
            await run_rollup(conn)  # no what-if legs: they are left for `whatif prepare`
            after_rollup = len(built)
            start, end = await conn.fetchrow("SELECT min(starts_at)::date, max(starts_at)::date + 1 FROM shifts")
            report = await prepare(conn, start, end)
            loaded = await legs(conn)
            after_prepare = len(built)
            await conn.execute("TRUNCATE street_index")  # nothing stored: built on the spot
            await prepare(conn, start, end, recompute=True)
            return after_rollup, report, loaded, after_prepare, len(built), await legs(conn)
        finally:
            await conn.close()

    after_rollup, report, loaded, after_prepare, after_build, on_the_spot = run(body())
    assert after_rollup == 1 and report.shifts == 2 and len(loaded) > 50
    assert after_prepare == 1  # loaded, not built
    assert after_build == 2 and loaded == on_the_spot
