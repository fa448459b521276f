"""Day and week blocks of exposure (migration 0007): built by the rollup job, read by hotspots.

A block sums a unit's exposure rows of one local day (or ISO week) of the city (fleetpilot.localtime) and ORs their crew masks
over the stable bits of person_bits. Shifts add (a shift has one row per unit and one day);
people do not, so they stay a mask. A range is read as whole weeks, then days, then — for
days marked in exposure_stale_days — the exposure rows themselves, so the k counts are exact
whether or not the job has caught up. The whole read runs in one snapshot.

Readers release (unit, ISO week) cells (docs/decisions/0004): a cell is visible when it
alone reaches k, and every sum is over visible cells only, so no difference of two ranges'
answers contains a hidden cell. A clean week's block is such a cell; a week with stale days
is grouped from its day blocks and exposure rows. The block, its k test and the people it
counts are fleetpilot.release_blocks', shared with the route doors (policy.released_cell);
tests/api/test_release_blocks.py shows both release the same blocks.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, timedelta

import asyncpg

from fleetpilot.event_kinds import CELL_EXPOSURE, SEGMENT_EXPOSURE
from fleetpilot.localtime import week_start as monday  # the city's ISO week: one rule, fleetpilot.localtime
from fleetpilot.release_blocks import COUNTED_CREW, released_sql

# Stored masks are as wide as the bits assigned when they were written, rounded up to whole
# words; readers pad every mask to the current width so bit_or sees equal lengths.
WORD = 64

ASSIGN_BITS = """
INSERT INTO person_bits (bit, person_id)
SELECT (SELECT coalesce(max(bit) + 1, 0) FROM person_bits) + row_number() OVER (ORDER BY p.person_id) - 1, p.person_id
FROM people p
WHERE NOT EXISTS (SELECT 1 FROM person_bits b WHERE b.person_id = p.person_id)
"""
WIDTH = f"SELECT (coalesce(max(bit), 0) / {WORD} + 1) * {WORD} FROM person_bits"
# Locked: a writer re-marking one of these days waits for the rebuild, so its new mark
# survives; a day a writer holds is left for the next run (never waiting: no deadlock).
STALE = "SELECT day, marked_at FROM exposure_stale_days ORDER BY day FOR UPDATE SKIP LOCKED"
# Readers cache by this version (and the stale days of their range): a new one per rebuild.
VERSION_KEY = "hotspot_blocks_version"
BUMP_VERSION = f"""
INSERT INTO fleetpilot_meta (key, value) VALUES ('{VERSION_KEY}', txid_current()::text)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
"""
CLEAR_STALE = """
DELETE FROM exposure_stale_days s USING unnest($1::date[], $2::timestamptz[]) AS m(day, marked_at)
WHERE s.day = m.day AND s.marked_at <= m.marked_at
"""
# $1 days, $2 mask width: the crew mask of every shift with exposure rows on those days.
SHIFT_MASKS = f"""
shift_masks AS (
    SELECT c.shift_id, bit_or(set_bit(repeat('0', $2)::varbit, b.bit, 1)) AS crew
    FROM shift_crew c JOIN person_bits b ON b.person_id = c.person_id
    WHERE c.{COUNTED_CREW}  -- k counts drivers (decision 0009)
      AND c.shift_id IN (SELECT shift_id FROM {{level}}_exposure WHERE day = ANY($1::date[]))
    GROUP BY c.shift_id
)"""
LEVELS = {
    "cell": ("cell_id", CELL_EXPOSURE),
    "segment": ("segment_id", SEGMENT_EXPOSURE),
}


def _padded(width: str) -> str:
    return f"CASE WHEN length(crew) = {width} THEN crew ELSE crew || repeat('0', {width} - length(crew))::varbit END"


def _refresh_sql(level: str) -> tuple[str, str]:
    unit, kinds = LEVELS[level]
    sums = ", ".join(f"sum(e.{k})" for k in kinds)
    cols = ", ".join(kinds)
    daily = f"""
WITH {SHIFT_MASKS.format(level=level)}
INSERT INTO {level}_daily (day, {unit}, shifts, passes, {cols}, crew)
SELECT e.day, e.{unit}, count(*), sum(e.passes), {sums}, bit_or(m.crew)
FROM {level}_exposure e LEFT JOIN shift_masks m ON m.shift_id = e.shift_id
WHERE e.day = ANY($1::date[])
GROUP BY e.day, e.{unit}
"""
    weekly = f"""
INSERT INTO {level}_weekly (week, {unit}, shifts, passes, {cols}, crew)
SELECT w.week, d.{unit}, sum(d.shifts), sum(d.passes), {", ".join(f"sum(d.{k})" for k in kinds)},
       bit_or({_padded("$2")})
FROM unnest($1::date[]) AS w(week)
JOIN {level}_daily d ON d.day >= w.week AND d.day < w.week + 7
GROUP BY w.week, d.{unit}
"""
    return daily, weekly


REFRESH = {level: _refresh_sql(level) for level in LEVELS}


async def refresh_blocks(conn: asyncpg.Connection, beside: asyncpg.Connection | None = None) -> int:
    """Rebuild the day and week blocks of every stale day; the number of days rebuilt.

    With ``beside`` (a second connection: the rollup's writer) the segment level is rebuilt on
    it while ``conn`` rebuilds the cell level: the two are independent and each is one
    server backend's CPU (~1.0 and ~0.5 s for a 200-truck fleet-day). The person bits are then
    committed first, so both see them; the segment blocks commit before the stale marks are
    cleared, and a reader in between reads those days from the exposure rows, as it would
    before either rebuild."""
    async with conn.transaction():
        stale = await conn.fetch(STALE)
        if not stale:
            return 0
        days = [r["day"] for r in stale]
        weeks = sorted({monday(d) for d in days})
        if beside is None:
            width = await _assign_bits(conn)
            for level in REFRESH:
                await _rebuild(conn, level, days, weeks, width)
        else:
            async with beside.transaction():
                width = await _assign_bits(beside)
            async with beside.transaction():
                await asyncio.gather(
                    _rebuild(conn, "cell", days, weeks, width), _rebuild(beside, "segment", days, weeks, width)
                )
        await conn.execute(CLEAR_STALE, days, [r["marked_at"] for r in stale])
        await conn.execute(BUMP_VERSION)
    return len(days)


async def _assign_bits(conn: asyncpg.Connection) -> int:
    """Bits for people who have none (in the caller's transaction); the mask width."""
    # Two jobs must not hand out the same bit.
    await conn.execute("LOCK TABLE person_bits IN SHARE ROW EXCLUSIVE MODE")
    await conn.execute(ASSIGN_BITS)
    return await conn.fetchval(WIDTH)


# For the rebuild's transaction: a hashed aggregate kept every unit's crew mask (a bit_or of
# 640-bit masks for a 200-truck city) until its end and spilled them to disk; sorted, each
# unit's mask is freed as it is done and the blocks go into their keys in order. In memory:
# the sort carries every exposure row's mask (38 MB for a 200-truck fleet-day's cells).
# A 200-truck fleet-day's cell level: 0.88-0.96 -> 0.59-0.72 s, its week 0.53-0.66 -> 0.31-0.34 s
# (docs/benchmarks/rollup.md, decision 0046).
SORTED_GROUPS = "SELECT set_config('enable_hashagg', 'off', true), set_config('work_mem', '64MB', true)"


async def _rebuild(conn: asyncpg.Connection, level: str, days: list[date], weeks: list[date], width: int) -> None:
    daily, weekly = REFRESH[level]
    await conn.execute(SORTED_GROUPS)
    await conn.execute(f"DELETE FROM {level}_daily WHERE day = ANY($1::date[])", days)
    await conn.execute(daily, days, width)
    await conn.execute(f"DELETE FROM {level}_weekly WHERE week = ANY($1::date[])", weeks)
    await conn.execute(weekly, weeks, width)


@dataclass(frozen=True)
class RangePlan:
    """How [start, end) is read: whole weeks from *_weekly, days from *_daily, stale days raw."""

    weeks: list[date]
    days: list[date]
    raw: list[date]


def plan_range(start: date, end: date, stale: set[date]) -> RangePlan:
    weeks, days, raw = [], [], []
    day = start
    while day < end:
        week_end = day + timedelta(days=7)
        if day.weekday() == 0 and week_end <= end and not any(day + timedelta(days=i) in stale for i in range(7)):
            weeks.append(day)
            day = week_end
            continue
        (raw if day in stale else days).append(day)
        day += timedelta(days=1)
    return RangePlan(weeks, days, raw)


# People without a bit yet (added since the job last ran) get the next bits in the same
# order the job will give them, so raw rows and blocks share one bit space.
_BITS = f"""
bits AS (
    SELECT bit, person_id FROM person_bits WHERE person_id IS NOT NULL
    UNION ALL
    SELECT ((SELECT coalesce(max(bit) + 1, 0) FROM person_bits) + row_number() OVER (ORDER BY p.person_id) - 1)::int,
           p.person_id
    FROM people p WHERE NOT EXISTS (SELECT 1 FROM person_bits b WHERE b.person_id = p.person_id)
),
width AS (
    SELECT ((greatest(coalesce(max(bit), 0), (SELECT coalesce(max(bit), 0) FROM person_bits)) / {WORD} + 1) * {WORD})::int AS w
    FROM bits
)"""


def _visible_sql(level: str) -> str:
    """$1 k shifts, $2 k people, $3 clean weeks, $4 clean days of weeks with stale days, $5
    stale days. A (unit, ISO week) cell is visible when it alone holds ≥ $1 shifts and ≥ $2
    people (docs/decisions/0004); rows: each unit with a visible cell and its sums over its
    visible cells only, each row carrying the number of units without any visible cell and of
    hidden cells (one row with unit NULL when no cell is visible)."""
    unit, kinds = LEVELS[level]
    cols = ", ".join(kinds)
    return f"""
WITH {_BITS},
raw_masks AS (
    SELECT c.shift_id, bit_or(set_bit(repeat('0', (SELECT w FROM width))::varbit, b.bit, 1)) AS crew
    FROM shift_crew c JOIN bits b ON b.person_id = c.person_id
    WHERE c.{COUNTED_CREW}  -- k counts drivers (decision 0009)
      AND c.shift_id IN (SELECT shift_id FROM {level}_exposure WHERE day = ANY($5::date[]))
    GROUP BY c.shift_id
),
cells AS (
    -- A clean week's block is its (unit, week) cell as it is: nothing to group.
    SELECT {unit} AS unit_id, shifts, passes, {cols}, coalesce(bit_count(crew), 0) AS people
    FROM {level}_weekly WHERE week = ANY($3::date[])
    UNION ALL
    -- A week with stale days: its clean days' blocks plus its stale days' exposure rows with
    -- live crews, grouped into the week's cell.
    -- Cast back to the block columns' types: sum(bigint) is numeric, and the union would then
    -- turn every clean week's row into numeric too (a third of the query's time).
    SELECT unit_id, sum(shifts)::integer, sum(passes)::bigint, {", ".join(f"sum({k})::integer" for k in kinds)},
           coalesce(bit_count(bit_or({_padded("(SELECT w FROM width)")})), 0)
    FROM (
        SELECT {unit} AS unit_id, day, shifts, passes, {cols}, crew FROM {level}_daily WHERE day = ANY($4::date[])
        UNION ALL
        SELECT e.{unit}, e.day, 1, e.passes, {", ".join(f"e.{k}" for k in kinds)}, m.crew
        FROM {level}_exposure e LEFT JOIN raw_masks m ON m.shift_id = e.shift_id
        WHERE e.day = ANY($5::date[])
    ) part
    GROUP BY unit_id, date_trunc('week', day::timestamp)
),
-- Per unit, sums over its visible cells only: a hidden cell enters no figure.
-- passes::integer: sum(bigint) would accumulate in numeric; a unit's passes fit an integer.
judged AS (
    SELECT unit_id, count(*) FILTER (WHERE visible) > 0 AS visible, count(*) FILTER (WHERE NOT visible) AS hidden,
           sum(passes::integer) FILTER (WHERE visible) AS passes,
           {", ".join(f"sum({k}) FILTER (WHERE visible) AS {k}" for k in kinds)}
    FROM (SELECT *, {released_sql("shifts", "people", "$1", "$2")} AS visible FROM cells) c
    GROUP BY unit_id
)
SELECT n.suppressed, n.suppressed_cells, v.*
FROM (SELECT count(*) FILTER (WHERE NOT visible) AS suppressed, coalesce(sum(hidden), 0)::bigint AS suppressed_cells
      FROM judged) n
LEFT JOIN (SELECT unit_id, passes, {cols} FROM judged WHERE visible) v ON true
"""


VISIBLE = {level: _visible_sql(level) for level in LEVELS}
# The state a range's answer depends on: the blocks' version and the marks of its stale days
# (any write to exposure or crews re-marks its day with a new time).
STATE = f"""
SELECT current_database() AS db, inet_server_port() AS port,
       (SELECT value FROM fleetpilot_meta WHERE key = '{VERSION_KEY}') AS version,
       coalesce((SELECT array_agg(day ORDER BY day) FROM exposure_stale_days WHERE day >= $1 AND day < $2), '{{}}') AS days,
       coalesce((SELECT array_agg(marked_at ORDER BY day) FROM exposure_stale_days WHERE day >= $1 AND day < $2),
                '{{}}') AS marks
"""
# Enough memory for the per-unit aggregate states of a month of a city without spilling to disk.
WORK_MEM = "SELECT set_config('work_mem', '32MB', true)"
CACHE_SIZE = 8


@dataclass(frozen=True)
class Visible:
    """An answer of visible_units and the exact state it was computed from (equal keys, equal rows)."""

    key: tuple
    rows: list[asyncpg.Record]


_cache: OrderedDict[tuple, Visible] = OrderedDict()


async def visible_units(
    conn: asyncpg.Connection, level: str, start: date, end: date, k_shifts: int, k_people: int
) -> Visible:
    """Units of `level` over [start, end), widened to whole ISO weeks, with at least one week
    passed by ≥ k_shifts shifts and ≥ k_people people, summed over such weeks only: rows
    (suppressed, suppressed_cells, unit_id, passes, <event kinds>); see _visible_sql. The last
    few answers are kept per process and reused while the state they were computed from is
    unchanged."""
    # The API's ranges are whole weeks already (policy.whole_weeks); a cut week would be a
    # partial cell, judged apart from the whole one.
    start, end = monday(start), monday(end - timedelta(days=1)) + timedelta(days=7)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        state = await conn.fetchrow(STATE, start, end)
        query = (state["db"], state["port"], level, start, end, k_shifts, k_people)
        key = (*query, state["version"], tuple(state["days"]), tuple(state["marks"]))
        hit = _cache.get(query)
        if hit is not None and hit.key == key:
            _cache.move_to_end(query)
            return hit
        await conn.execute(WORK_MEM)
        plan = plan_range(start, end, set(state["days"]))
        answer = Visible(key, await conn.fetch(VISIBLE[level], k_shifts, k_people, plan.weeks, plan.days, plan.raw))
    _cache[query] = answer
    while len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return answer
