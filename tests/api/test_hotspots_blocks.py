"""Hotspot reads from day/week blocks are exact: the same visible units, sums and
suppressed count as from the exposure rows, before and after crews or exposure change."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import asyncpg
import pytest
from support import run

from fleetpilot.rollup.blocks import plan_range, refresh_blocks, visible_units
from fleetpilot.rollup.job import run_rollup
from fleetpilot.simload import load_run
from fleetsim.offline import generate_fleet

MARK_ALL_STALE = """
INSERT INTO exposure_stale_days (day) SELECT DISTINCT day FROM cell_exposure
ON CONFLICT (day) DO UPDATE SET marked_at = clock_timestamp()
"""


@pytest.fixture(scope="module")
def fleet():
    # Nine days from a Wednesday: two partial weeks around a whole one.
    today = datetime.now(timezone.utc).date()
    first = today - timedelta(days=today.weekday() + 19)
    return generate_fleet(n_vehicles=4, days=9, seed=3, hours=3.0, start=f"{first.isoformat()}T06:00:00Z")


def _answer(visible) -> tuple[int, dict]:
    rows = visible.rows
    units = {
        str(r["unit_id"]): tuple(v for k, v in dict(r).items() if k not in ("suppressed", "unit_id"))
        for r in rows
        if r["unit_id"] is not None
    }
    return rows[0]["suppressed"], units


async def _both(conn, level, start, end, k_shifts, k_people):
    """The answer from blocks (after a rebuild), then from the exposure rows (all days stale)."""
    await refresh_blocks(conn)
    blocks = _answer(await visible_units(conn, level, start, end, k_shifts, k_people))
    await conn.execute(MARK_ALL_STALE)
    raw = _answer(await visible_units(conn, level, start, end, k_shifts, k_people))
    return blocks, raw


def test_blocks_answer_exactly_as_the_exposure_rows(db_url, fleet):
    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            await load_run(conn, fleet)
            await run_rollup(conn)
            first, last = await conn.fetchrow("SELECT min(day), max(day) FROM cell_exposure")
            weeks = await conn.fetchval("SELECT count(*) FROM cell_weekly")
            out = []
            for level in ("cell", "segment"):
                for start, end, k in (
                    (first, last + timedelta(days=1), (3, 2)),
                    (first + timedelta(days=1), last, (5, 3)),
                    (first - timedelta(days=10), last + timedelta(days=3), (2, 2)),
                ):
                    out.append((level, start, end, k, *await _both(conn, level, start, end, *k)))
            # Crews taken off the shifts of the first five days: fewer people, so more suppression,
            # seen at once from the exposure rows and, after the rebuild, from the blocks.
            await refresh_blocks(conn)
            before = _answer(await visible_units(conn, "cell", first, last + timedelta(days=1), 3, 3))
            deleted = await conn.execute(
                "DELETE FROM shift_crew c USING shifts s WHERE s.shift_id = c.shift_id AND s.starts_at < $1::date + 5",
                first,
            )
            stale = (deleted, await conn.fetchval("SELECT count(*) FROM exposure_stale_days"))
            raw_after = _answer(await visible_units(conn, "cell", first, last + timedelta(days=1), 3, 3))
            await refresh_blocks(conn)
            blocks_after = _answer(await visible_units(conn, "cell", first, last + timedelta(days=1), 3, 3))
            return weeks, out, before, stale, raw_after, blocks_after
        finally:
            await conn.close()

    weeks, out, before, stale, raw_after, blocks_after = run(body())
    assert weeks > 0  # the whole week was read from its block
    for level, start, end, k, blocks, raw in out:
        assert blocks == raw, (level, start, end, k)
        assert raw[1], (level, start, end, k)  # something visible, so the comparison means something
    assert stale[0] != "DELETE 0" and stale[1] == 5  # each day whose crews changed, marked
    assert raw_after == blocks_after
    assert raw_after != before and raw_after[0] >= before[0]


def test_range_plan_uses_whole_clean_weeks_then_days():
    start, end = date(2026, 10, 23), date(2026, 11, 22)  # Friday .. Sunday after
    plan = plan_range(start, end, set())
    assert plan.weeks == [date(2026, 10, 26), date(2026, 11, 2), date(2026, 11, 9)]
    assert plan.days == [date(2026, 10, 23), date(2026, 10, 24), date(2026, 10, 25)] + [
        date(2026, 11, 16) + timedelta(days=i) for i in range(6)
    ]
    assert plan.raw == []
    stale = plan_range(start, end, {date(2026, 11, 4)})
    assert stale.weeks == [date(2026, 10, 26), date(2026, 11, 9)] and stale.raw == [date(2026, 11, 4)]
    assert date(2026, 11, 2) in stale.days and date(2026, 11, 4) not in stale.days
    covered = [d for w in stale.weeks for d in (w + timedelta(days=i) for i in range(7))] + stale.days + stale.raw
    assert sorted(covered) == [start + timedelta(days=i) for i in range((end - start).days)]


BLOCK_TABLES = ("cell_daily", "cell_weekly", "segment_daily", "segment_weekly")


async def _blocks(conn) -> dict[str, list]:
    return {t: [tuple(r) for r in await conn.fetch(f"SELECT * FROM {t} ORDER BY 1, 2")] for t in BLOCK_TABLES}


def test_levels_rebuilt_side_by_side_equal_one_connection_s(db_url, fleet):
    """The rollup rebuilds the cell level on its connection and the segment level on its writer
    (refresh_blocks(beside=…)): the same blocks as one connection builds, every stale day cleared."""

    async def body():
        conn, beside = await asyncpg.connect(db_url), await asyncpg.connect(db_url)
        try:
            await load_run(conn, fleet)
            await run_rollup(conn)  # one connection
            alone = await _blocks(conn)
            version = await conn.fetchval("SELECT value FROM fleetpilot_meta WHERE key = 'hotspot_blocks_version'")
            await conn.execute(MARK_ALL_STALE)
            for table in BLOCK_TABLES:
                await conn.execute(f"DELETE FROM {table}")
            days = await refresh_blocks(conn, beside=beside)
            after = await conn.fetchval("SELECT value FROM fleetpilot_meta WHERE key = 'hotspot_blocks_version'")
            left = await conn.fetchval("SELECT count(*) FROM exposure_stale_days")
            return alone, await _blocks(conn), days, left, version != after
        finally:
            await beside.close()
            await conn.close()

    alone, together, days, left, bumped = run(body())
    assert days == 9 and left == 0 and bumped
    assert all(alone[t] for t in BLOCK_TABLES)
    assert together == alone
