"""Issue 13, item 1: one implementation of decision 0004's blocks (fleetpilot.release_blocks).

Two doors count the same (unit, ISO week) block in two ways: from rows of one shift each
(policy.released_cell: route doors, what-if, goals) and from the rollup's day/week sums with
crew bit masks (rollup/blocks.py: hotspots). Both use release_blocks' test and its people
(drivers). Here both judge the hotspots' own blocks of one world — crews drawn at random, with
helpers, for random k — and must release exactly the same (unit, week) blocks, whether the
blocks are read from the rollup's week blocks or, for days not rebuilt yet, from raw rows.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from support import run

from fleetpilot import release_blocks
from fleetpilot.api import policy
from fleetpilot.rollup.blocks import LEVELS, refresh_blocks, visible_units

pytestmark = pytest.mark.integration

PEOPLE = ["p-ana", "p-zz-ben", "p-zz-cai", "p-zz-dan", "p-zz-eve"]


def _by_rows(level: str) -> str:
    """The blocks policy.released_cell releases, judged over the exposure rows (one shift each)."""
    unit = LEVELS[level][0]
    return f"""
SELECT unit_id, week FROM (
    SELECT e.{unit}::text AS unit_id, date_trunc('week', e.day::timestamp)::date AS week,
           {policy.released_cell("e.shift_id", "$1", "$2")} AS released
    FROM {level}_exposure e GROUP BY 1, 2
) judged WHERE released
"""


async def _both(url: str, weeks: list, ks: list[tuple[int, int]]) -> list[tuple]:
    """(level, k, by rows, by blocks) for every level and k: the released (unit, week) sets."""
    conn = await asyncpg.connect(url)
    try:
        out = []
        for level in LEVELS:
            for k in ks:
                rows = {(r["unit_id"], r["week"]) for r in await conn.fetch(_by_rows(level), *k)}
                blocks = set()
                for week in weeks:
                    answer = await visible_units(conn, level, week, week + timedelta(days=7), *k)
                    blocks |= {(str(r["unit_id"]), week) for r in answer.rows if r["unit_id"] is not None}
                out.append((level, k, rows, blocks))
        return out
    finally:
        await conn.close()


async def _refresh(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await refresh_blocks(conn)
    finally:
        await conn.close()


crews = st.lists(
    st.tuples(st.sampled_from(PEOPLE), st.lists(st.sampled_from(PEOPLE), max_size=2)), min_size=17, max_size=17
)
thresholds = st.lists(st.tuples(st.integers(1, 7), st.integers(1, 4)), min_size=3, max_size=3, unique=True)


# No shrinking: a failing example says which level, k and blocks differ; shrinking crews of a
# database world would take minutes.
@settings(
    max_examples=8,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
)
@given(drawn=crews, ks=thresholds)
def test_both_ways_of_counting_release_the_same_blocks(api, drawn, ks):
    shifts = [r["shift_id"] for r in api.sql("SELECT shift_id FROM shifts WHERE shift_id NOT LIKE 'live%' ORDER BY 1")]
    assert len(shifts) == len(drawn)
    for shift, (driver, helpers) in zip(shifts, drawn):
        api.sql("DELETE FROM shift_crew WHERE shift_id = $1", shift)
        api.sql(
            "INSERT INTO shift_crew (shift_id, person_id, crew_role) VALUES ($1, $2, $3)",
            shift,
            driver,
            release_blocks.COUNTED_ROLE,
        )
        for helper in set(helpers) - {driver}:
            api.sql("INSERT INTO shift_crew (shift_id, person_id, crew_role) VALUES ($1, $2, 'helper')", shift, helper)
    weeks = [api.world.week1 + timedelta(weeks=n) for n in range(4)]
    compared = 0
    for _ in ("days marked stale: raw rows", "rebuilt: the rollup's week blocks"):
        for level, k, rows, blocks in run(_both(api.database_url, weeks, ks)):
            assert blocks == rows, f"{level} k={k}: blocks {sorted(blocks)} rows {sorted(rows)}"
            compared += 1
        run(_refresh(api.database_url))
    assert compared == 2 * len(LEVELS) * len(ks)


def test_the_blocks_are_not_all_alike(api):
    """The comparison is not blind: under k = (5, 3) some blocks are released and some withheld."""
    weeks = [api.world.week1 + timedelta(weeks=n) for n in range(4)]
    every = run(_both(api.database_url, weeks, [(1, 1)]))
    some = run(_both(api.database_url, weeks, [(5, 3)]))
    for (_, _, all_rows, _), (_, _, rows, blocks) in zip(every, some):
        assert rows == blocks and rows and rows < all_rows
