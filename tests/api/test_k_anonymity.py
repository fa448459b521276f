"""Property: for any exposure data, the hotspot endpoints show exactly the units with a
(unit, ISO week) cell passed in at least k shifts by at least k distinct people, summed over
those weeks only, and count the rest as suppressed — checked against a plain Python
computation over the same rows (docs/decisions/0004)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def _crews(api) -> dict[str, set[str]]:
    crews: dict[str, set[str]] = {}
    for r in api.sql("SELECT shift_id, person_id FROM shift_crew"):
        crews.setdefault(r["shift_id"], set()).add(r["person_id"])
    return crews


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_visible_units_are_exactly_those_reaching_k(shared_api, data):
    api = shared_api
    shifts = sorted(s for s in api.world.shift_window if s != api.world.live_shift)
    k_shifts = data.draw(st.integers(2, 6), label="k_shifts")
    k_people = data.draw(st.integers(2, 4), label="k_people")
    cells = data.draw(
        st.dictionaries(st.integers(1, 12), st.sets(st.sampled_from(shifts), max_size=12), max_size=8), label="cells"
    )
    rows = [(cell, api.world.shift_window[s][0].date(), s, 3, 1) for cell, members in cells.items() for s in members]
    api.sql("DELETE FROM cell_exposure")
    api.sql_many(
        "INSERT INTO cell_exposure (cell_id, day, shift_id, passes, harsh_brake) VALUES ($1, $2, $3, $4, $5)", rows
    )
    api.sql("UPDATE privacy_settings SET k_min_shifts = $1, k_min_people = $2", k_shifts, k_people)

    crews = _crews(api)
    visible: dict[int, int] = {}  # cell -> shifts in its visible weeks
    hidden_cells = 0
    for cell, members in cells.items():
        weeks: dict = {}
        for shift in members:
            day = api.world.shift_window[shift][0].date()
            weeks.setdefault(day - timedelta(days=day.weekday()), set()).add(shift)
        for week_shifts in weeks.values():
            if len(week_shifts) >= k_shifts and len(set().union(*(crews[s] for s in week_shifts))) >= k_people:
                visible[cell] = visible.get(cell, 0) + len(week_shifts)
            else:
                hidden_cells += 1
    body = api.get(
        "/api/v1/hotspots/cells",
        "data_officer",
        params={
            "from": str(api.world.week1 - timedelta(days=1)),
            "to": str(api.world.week1 + timedelta(weeks=4)),
            "min_passes": 1,
        },
    ).json()
    assert {int(u["unit_id"]): u["passes"] for u in body["units"]} == {c: 3 * n for c, n in visible.items()}
    assert all(u["events"] * 3 == u["passes"] for u in body["units"])
    assert body["suppressed_units"] == len([c for c, members in cells.items() if members]) - len(visible)
    assert body["suppressed_cells"] == hidden_cells
    assert (body["k_min_shifts"], body["k_min_people"]) == (k_shifts, k_people)
