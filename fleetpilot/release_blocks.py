"""Decision 0004's block and its k test, written once for every door that releases group figures.

A block is (unit, ISO week of the city): the week of the city's local day (fleetpilot.localtime,
decision 0013) and a unit — a route (efficiency, coverage, the 311 tally, the goals' scorecard
and report, what-if: a shift without a route counts under its vehicle), a street segment or a
grid cell (hotspots). A block is released when it alone holds at least k_shifts shifts driven
by at least k_people distinct people, and the people k counts are the shifts' drivers: helpers
and other crew roles ride with a driver and do not make a week of one driver a group
(decision 0009). Every figure is then built from released blocks only.

The blocks are counted in two ways, each with the definitions of this module:

- from rows of one shift each (``policy.released_cell``: efficiency, coverage, the 311 tally,
  what-if, the goals): distinct shift ids, and distinct drivers read through the crew index;
- from day and week sums the rollup job keeps (``rollup/blocks.py``: hotspots): shifts add,
  and drivers are the OR of crew bit masks over ``person_bits``, so they do not add.

Both are the same count of the same block (tests/api/test_release_blocks.py: on one world, for
every k, both release the same blocks). The hazard list (decision 0019) has no weeks and no
ranges; its k on distinct reporters uses ``enough_people`` (decision 0022).
"""

from __future__ import annotations

from fleetpilot.localtime import week_start

# Who k_min_people counts: the crew role of a shift's driver (shift_crew.crew_role).
COUNTED_ROLE = "driver"
# As an SQL condition on shift_crew rows (alias `crew`, or none).
COUNTED_CREW = f"crew_role = '{COUNTED_ROLE}'"

# The block's week: the Monday of the city's local ISO week of a local day.
week_of = week_start


def released(shifts: int, people: int, k_shifts: int, k_people: int) -> bool:
    """Decision 0004's test of one block: enough shifts and enough distinct drivers."""
    return shifts >= k_shifts and people >= k_people


def released_sql(shifts: str, people: str, k_shifts: str, k_people: str) -> str:
    """The same test in SQL, over the block's shift count and driver count expressions."""
    return f"({shifts} >= {k_shifts} AND {people} >= {k_people})"


def drivers_sql(shift_ids: str, alias: str = "block_crew") -> str:
    """SQL counting the distinct drivers of the shifts in the text[] expression `shift_ids`
    (through the crew index: a join would hash all of shift_crew)."""
    return (
        f"(SELECT count(DISTINCT {alias}.person_id) FROM shift_crew {alias} "
        f"WHERE {alias}.shift_id = ANY ({shift_ids}) AND {alias}.{COUNTED_CREW})"
    )


def enough_people(people: int, k_people: int) -> bool:
    """The hazard list's test (decision 0019): a count shows at k_people distinct reporters."""
    return people >= k_people
