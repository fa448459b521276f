"""Aggregates for supervisors and data officers: k-suppression in the query results,
thresholds read live, exports that respect k, hotspots normalised by exposure."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

import numpy as np
import pyarrow.parquet as pq
import pytest

from fleetpilot.analytics.geo import LocalFrame
from fleetpilot.analytics.hotspots import Grid, HotspotParams
from fleetpilot.analytics.hotspots import hotspots as gi_star_hotspots

FIGURES = (
    "shifts",
    "coverage_mean",
    "distance_km_per_shift",
    "deadhead_share",
    "collection_h_per_shift",
    "idle_min_per_shift",
    "facility_min_per_shift",
    "dwell_mean_s",
    "turnaround_mean_s",
)


def _range(api) -> dict[str, str]:
    return {"from": api.world.week1.isoformat(), "to": (api.world.week1 + timedelta(weeks=3)).isoformat()}


def _efficiency(api, route: str = "r-north", role: str = "supervisor", **params):
    response = api.get(f"/api/v1/routes/{route}/efficiency", role, params={**_range(api), **params})
    assert response.status_code == 200, response.text
    return response.json()


def test_weeks_below_k_are_suppressed_with_every_figure_null(shared_api):
    body = _efficiency(shared_api)
    assert (body["k_min_shifts"], body["k_min_people"]) == (5, 3)
    weeks = {p["period_start"]: p for p in body["periods"]}
    week1, week2, week3 = (str(shared_api.world.week1 + timedelta(weeks=n)) for n in range(3))
    assert weeks[week1]["suppressed"] is False and weeks[week1]["shifts"] == 6
    assert weeks[week1]["coverage_mean"] == pytest.approx(0.85)
    for hidden in (week2, week3):  # one person only; three shifts only
        assert weeks[hidden]["suppressed"] is True
        assert all(weeks[hidden][f] is None for f in FIGURES)
    # The whole range holds the visible week only: hidden weeks enter no figure at all.
    assert body["whole_range"]["shifts"] == 6 and not body["whole_range"]["suppressed"]
    assert body["whole_range"]["coverage_mean"] == pytest.approx(0.85)
    assert body["missed_segments"] == [{"segment_id": "seg-c", "shifts_missed": 3, "share": 0.5}]


def test_a_route_driven_by_too_few_people_shows_nothing(shared_api):
    body = _efficiency(shared_api, "r-south")
    assert body["whole_range"]["suppressed"] and all(p["suppressed"] for p in body["periods"])
    assert body["missed_segments"] == []
    for group in [*body["periods"], body["whole_range"]]:
        assert all(group[f] is None for f in FIGURES)


@pytest.mark.parametrize("first,last", [(0, 21), (0, 14), (2, 19), (3, 10), (6, 8), (8, 20), (-3, 25)])
def test_no_range_reveals_a_hidden_week_by_subtraction(shared_api, first, last):
    """Ranges are widened to whole weeks, and every figure comes from visible weeks only:
    whatever two ranges are subtracted, the remainder is made of visible weeks, whose
    figures are shown anyway (docs/decisions/0004)."""
    week1 = shared_api.world.week1
    body = _efficiency(
        shared_api, **{"from": str(week1 + timedelta(days=first)), "to": str(week1 + timedelta(days=last))}
    )
    start, end = (date.fromisoformat(body[k]) for k in ("start", "end"))
    assert start.weekday() == end.weekday() == 0
    assert (
        start
        <= week1 + timedelta(days=first)
        < week1 + timedelta(days=last)
        <= end
        < start + timedelta(days=last - first + 14)
    )
    shown = [p for p in body["periods"] if not p["suppressed"]]
    assert all(date.fromisoformat(p["period_start"]).weekday() == 0 for p in body["periods"])
    whole = body["whole_range"]
    assert (whole["shifts"] or 0) == sum(p["shifts"] for p in shown)  # nothing hidden inside the whole
    assert whole["suppressed"] == (not shown)
    # Only week 1 (6 shifts, 3 people) may ever be shown.
    assert [p["period_start"] for p in shown] == ([str(week1)] if start <= week1 < end else [])


def test_daily_figures_are_refused(shared_api):
    response = shared_api.get(
        "/api/v1/routes/r-north/efficiency", "supervisor", params={**_range(shared_api), "bucket": "day"}
    )
    assert response.status_code == 422


def test_k_is_read_live_from_the_privacy_settings(api):
    assert not _efficiency(api)["periods"][0]["suppressed"]
    settings = api.get("/api/v1/admin/privacy", "admin").json()
    changed = api.client.put(
        "/api/v1/admin/privacy",
        headers=api.headers("admin"),
        json={**{k: settings[k] for k in ("retention_days", "zone_policy", "k_min_shifts")}, "k_min_people": 4},
    )
    assert changed.status_code == 200, changed.text
    body = _efficiency(api)
    assert body["k_min_people"] == 4 and all(p["suppressed"] for p in body["periods"])
    assert body["whole_range"]["suppressed"]


def test_monthly_buckets_hold_the_visible_weeks(shared_api):
    monthly = _efficiency(shared_api, bucket="month")
    assert sum(p["shifts"] or 0 for p in monthly["periods"]) == 6
    assert monthly["whole_range"] == {**_efficiency(shared_api)["whole_range"]}


def test_all_routes_at_once_and_unknown_route(shared_api):
    routes = shared_api.get("/api/v1/efficiency/routes", "data_officer", params=_range(shared_api)).json()
    assert [r["route_id"] for r in routes] == ["r-north", "r-south"]
    assert routes[0] == _efficiency(shared_api)
    assert shared_api.get("/api/v1/routes/nope/efficiency", "supervisor").status_code == 404


def test_segment_coverage_of_a_route(shared_api):
    body = shared_api.get("/api/v1/routes/r-north/coverage", "supervisor", params=_range(shared_api)).json()
    assert not body["suppressed"] and body["version"] == 1
    coverage = {s["segment_id"]: (s["shifts"], s["missed"], s["coverage"]) for s in body["segments"]}
    assert coverage == {"seg-a": (6, 0, 1.0), "seg-b": (6, 0, 1.0), "seg-c": (6, 3, 0.5)}  # visible week only
    south = shared_api.get("/api/v1/routes/r-south/coverage", "supervisor", params=_range(shared_api)).json()
    assert south["suppressed"] and south["segments"] == []


def test_a_shift_with_no_data_on_a_segment_neither_drove_nor_missed_it(api):
    """Two visible shifts that missed seg-c had no data there instead: they leave its missed
    count and its coverage denominator (4 shifts with data, 1 missed), and are shown apart."""
    week = [api.world.week1 + timedelta(days=i) for i in range(6)]
    api.sql(
        "UPDATE shift_metrics SET missed_segments = '{}', no_data_segments = '{seg-c}'"
        " WHERE route_id = 'r-north' AND day = ANY($1::date[]) AND missed_segments = '{seg-c}'",
        week[:4],
    )
    body = api.get("/api/v1/routes/r-north/coverage", "supervisor", params=_range(api)).json()
    coverage = {s["segment_id"]: (s["shifts"], s["missed"], s["no_data"], s["coverage"]) for s in body["segments"]}
    assert coverage["seg-c"] == (6, 1, 2, pytest.approx(0.75))
    assert coverage["seg-a"] == (6, 0, 0, 1.0)
    assert _efficiency(api)["missed_segments"] == [{"segment_id": "seg-c", "shifts_missed": 1, "share": 1 / 6}]


def test_hotspot_cells_below_k_are_left_out_and_only_counted(shared_api):
    body = shared_api.get("/api/v1/hotspots/cells", "data_officer", params=_range(shared_api)).json()
    assert body["method"] == "gi_star" and body["min_passes"] == HotspotParams().min_passes
    assert [u["unit_id"] for u in body["units"]] == ["1"]
    assert body["suppressed_units"] == 1  # cell 2: two shifts of r-south
    # Cell 1 counts week 1 only (r-north's 6 shifts and r-south's 2, five people); its weeks 2
    # (one person) and 3 (three shifts) are hidden cells, like cell 2's week.
    assert body["suppressed_cells"] == 3
    cell = body["units"][0]
    assert cell["passes"] == 8 * 10 and cell["events"] == 8 and cell["rate_per_1000"] == 100.0
    # The reference rate is over visible cells only, so cell 2 cannot be recovered by subtraction.
    assert body["reference_rate_per_1000"] == 100.0
    assert cell["geometry"] is None and body["cell_m"] is None  # no rollup has fixed the grid's frame yet


def test_cells_are_scored_by_gi_star_on_the_rollups_grid(api):
    grid = Grid(LocalFrame(13.4, 52.5))
    centre_x, centre_y = np.meshgrid(np.arange(5) * grid.cell_m + 1, np.arange(5) * grid.cell_m + 1)
    cells = grid.cell_of(centre_x.ravel(), centre_y.ravel())
    risky = set(cells[[6, 7, 11, 12]].tolist())  # a 2x2 block
    rows = [
        (int(c), start.date(), shift_id, 100, 30 if int(c) in risky else 2)
        for shift_id, (start, _) in api.world.shift_window.items()
        if "truck-1" in shift_id
        for c in cells
    ]
    api.sql("DELETE FROM cell_exposure")
    api.sql_many(
        "INSERT INTO cell_exposure (cell_id, day, shift_id, passes, harsh_brake) VALUES ($1, $2, $3, $4, $5)", rows
    )
    api.sql("INSERT INTO fleetpilot_meta (key, value) VALUES ('analytics_frame', '13.4,52.5')")
    body = api.get("/api/v1/hotspots/cells", "supervisor", params=_range(api)).json()
    units = {int(u["unit_id"]): u for u in body["units"]}
    assert len(units) == 25 and body["cell_m"] == grid.cell_m
    expected = gi_star_hotspots(
        np.array(list(units)),
        np.array([u["passes"] for u in units.values()]),
        np.array([u["events"] for u in units.values()]),
    )
    flagged = {c for c, u in units.items() if u["significant"]}
    assert {int(c) for c in expected.cell[expected.significant]} == flagged
    assert flagged & risky and body["units"][0]["significant"]  # Gi* may flag the block's neighbours too
    assert len({units[c]["cluster"] for c in flagged}) == 1
    first = units[int(cells[0])]
    lon, lat = grid.centre(np.array([cells[0]]))
    assert (first["lon"], first["lat"]) == pytest.approx((lon[0], lat[0]))
    ring = first["geometry"]["coordinates"][0]
    assert len(ring) == 5 and ring[0] == ring[-1]
    assert min(p[0] for p in ring) < first["lon"] < max(p[0] for p in ring)


def test_hotspot_segments_with_kind_and_min_passes(shared_api):
    params = {**_range(shared_api), "kind": "speeding"}
    body = shared_api.get("/api/v1/hotspots/segments", "supervisor", params=params).json()
    assert body["method"] == "poisson_exceedance"
    assert body["kind"] == "speeding" and body["units"][0]["events"] == 0
    none = shared_api.get("/api/v1/hotspots/segments", "supervisor", params={**params, "min_passes": 10_000}).json()
    assert none["units"] == []
    assert (
        shared_api.get("/api/v1/hotspots/segments", "supervisor", params={**params, "kind": "harsh_corner"}).status_code
        == 422
    )


def test_a_busy_segment_is_not_a_hotspot_but_a_risky_one_is(api):
    # Two more segments passed on every r-north shift: seg-b busy at about the usual rate,
    # seg-c quiet but with many events per pass.
    days = [(start.date(), s) for s, (start, _) in api.world.shift_window.items() if "truck-1" in s]
    api.sql_many(
        "INSERT INTO segment_exposure (segment_id, day, shift_id, passes, harsh_brake) "
        "VALUES ('seg-b', $1, $2, 200, 50)",
        days,
    )
    api.sql_many(
        "INSERT INTO segment_exposure (segment_id, day, shift_id, passes, harsh_brake) VALUES ('seg-c', $1, $2, 5, 4)",
        days,
    )
    body = api.get("/api/v1/hotspots/segments", "supervisor", params=_range(api)).json()
    units = {u["unit_id"]: u for u in body["units"]}
    assert units["seg-c"]["significant"] and not units["seg-b"]["significant"]
    assert units["seg-b"]["events"] > units["seg-c"]["events"]  # more events, yet not a hotspot
    assert body["units"][0]["unit_id"] == "seg-c"


@pytest.mark.parametrize("fmt", ["csv", "geojson", "parquet"])
def test_exports_hold_only_k_respecting_groups(shared_api, fmt):
    params = {**_range(shared_api), "format": fmt}
    cells = shared_api.get("/api/v1/exports/cell_hotspots", "data_officer", params=params)
    efficiency = shared_api.get("/api/v1/exports/route_efficiency", "data_officer", params=params)
    assert cells.status_code == efficiency.status_code == 200
    assert f'.{fmt}"' in cells.headers["content-disposition"]
    cell_rows, efficiency_rows = (_rows(r.content, fmt) for r in (cells, efficiency))
    assert [r["unit_id"] for r in cell_rows] == ["1"]
    assert len(efficiency_rows) == 6  # r-north: 3 weeks + whole; r-south: 1 week + whole
    for row in efficiency_rows:
        hidden = row["suppressed"] in (True, "True")
        assert hidden == (row["shifts"] in (None, "")), row


def _rows(content: bytes, fmt: str) -> list[dict]:
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(content.decode())))
    if fmt == "geojson":
        return [f["properties"] for f in json.loads(content)["features"]]
    return pq.read_table(io.BytesIO(content)).to_pylist()


def test_export_catalogue_and_kind_check(shared_api):
    catalogue = shared_api.get("/api/v1/exports", "data_officer").json()
    assert {d["name"] for d in catalogue} == {"segment_hotspots", "cell_hotspots", "route_efficiency"}
    assert all(d["formats"] == ["geojson", "csv", "parquet"] for d in catalogue)
    assert (
        shared_api.get("/api/v1/exports/segment_hotspots", "data_officer", params={"kind": "harsh_accel"}).status_code
        == 422
    )
