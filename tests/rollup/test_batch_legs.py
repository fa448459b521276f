"""The rollup prepares what-if legs in its batches, from the fixes it read, as the per-shift
preparation would (`fleetpilot whatif prepare`), and leaves it nothing to redo."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import asyncpg
from support import run

from fleetpilot.rollup.job import run_rollup
from fleetpilot.rollup.whatif.prepare import prepare
from fleetpilot.simload import load_run
from fleetsim.offline import generate_fleet

LEGS = "SELECT * FROM whatif_legs ORDER BY shift_id, leg"
VISITS = "SELECT * FROM whatif_stop_visits ORDER BY shift_id, stop_seq"
PREPARED = "SELECT shift_id, fixes, events, legs FROM whatif_prepared ORDER BY shift_id"


def test_batch_legs_equal_the_per_shift_ones(db_url):
    start = (datetime.now(timezone.utc) - timedelta(days=2)).strftime("%Y-%m-%dT06:00:00Z")
    fleet = generate_fleet(n_vehicles=3, days=1, seed=5, hours=3.0, start=start)
    days = (date.today() - timedelta(days=3), date.today() + timedelta(days=1))

    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            await load_run(conn, fleet)
            # batches of 2: a batch boundary falls between the shifts
            result = await run_rollup(conn, batch_size=2, whatif=True)
            batch = [await conn.fetch(q) for q in (LEGS, VISITS, PREPARED)]
            left = await prepare(conn, *days)  # what the rollup left: nothing
            redone = await prepare(conn, *days, recompute=True)  # every shift again, one at a time
            single = [await conn.fetch(q) for q in (LEGS, VISITS, PREPARED)]
            metrics = await conn.fetchval("SELECT count(*) FROM shift_metrics")
            return result, batch, left, redone, single, metrics
        finally:
            await conn.close()

    result, batch, left, redone, single, metrics = run(body())
    assert result.shifts == metrics == 3
    assert left.shifts == 0
    assert redone.shifts == 3
    legs, visits, prepared = batch
    assert len(legs) > 100 and len(visits) > 10
    assert [dict(r) for r in legs] == [dict(r) for r in single[0]]
    assert [dict(r) for r in visits] == [dict(r) for r in single[1]]
    assert [dict(r) for r in prepared] == [dict(r) for r in single[2]]
    assert sum(r["fixes"] for r in prepared) > 0
