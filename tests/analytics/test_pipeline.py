"""The whole pipeline: per-shift independence (what incremental rollups rely on),
determinism, and records shaped like the rollup tables."""

import re
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from fleetpilot.analytics.columns import DeviceEvents, Fixes
from fleetpilot.analytics.pipeline import analyse, cell_events, segment_events

MIGRATIONS = Path(__file__).resolve().parents[2] / "fleetpilot" / "db" / "migrations"
MIGRATION = MIGRATIONS / "0004_analytics_rollups.sql"


def _one_shift(sim, k: int):
    a, b = sim.analysis.track.starts[k], sim.analysis.track.stops[k]
    fixes = Fixes.from_columns({f.name: getattr(sim.fixes, f.name)[a:b] for f in fields(Fixes)})
    sel = sim.device.vehicle == k
    device = DeviceEvents(*(getattr(sim.device, f.name)[sel] for f in fields(DeviceEvents)))
    return analyse(fixes, sim.city, [sim.planned[k]], sim.windows[k : k + 1], device)


def _assert_same_record(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for key in a:
        if isinstance(a[key], dict):
            _assert_same_record(a[key], b[key])
        elif isinstance(a[key], float):
            assert a[key] == pytest.approx(b[key], rel=1e-9), key
        else:
            assert a[key] == b[key], key


@pytest.mark.parametrize("k", [0, 7])
def test_a_shift_analysed_alone_gives_what_it_gives_among_all(sim_day, k):
    alone = _one_shift(sim_day, k)
    together = sim_day.analysis
    _assert_same_record(alone.shift_metrics(sim_day.city)[0], together.shift_metrics(sim_day.city)[k])
    mine = together.events.select(together.events.track == k)
    assert alone.events.kind.tolist() == mine.kind.tolist()
    np.testing.assert_array_equal(alone.events.t, mine.t)
    np.testing.assert_allclose(alone.events.magnitude, mine.magnitude)
    tr, cell, passes = together.cell_passes
    _, cell_alone, passes_alone = alone.cell_passes
    np.testing.assert_array_equal(cell_alone, cell[tr == k])
    np.testing.assert_array_equal(passes_alone, passes[tr == k])


def test_running_twice_changes_nothing(sim_day):
    again = _one_shift(sim_day, 3)
    once = _one_shift(sim_day, 3)
    assert again.shift_metrics(sim_day.city) == once.shift_metrics(sim_day.city)
    assert again.events.records() == once.events.records()


def test_metrics_records_fit_the_rollup_table(sim_day):
    sql = MIGRATION.read_text()
    table = re.search(r"CREATE TABLE shift_metrics \((.*?)\n\);", sql, re.S).group(1)
    columns = {line.split()[0] for line in table.strip().splitlines()}
    for later in sorted(MIGRATIONS.glob("*.sql")):  # columns added since
        columns |= set(re.findall(r"ALTER TABLE shift_metrics ADD COLUMN (\w+)", later.read_text()))
    record = sim_day.analysis.shift_metrics(sim_day.city)[0]
    # The job fills these; safety_events it counts from the shift's stored events (migration 0030).
    job_fills = {"shift_id", "vehicle_id", "route_id", "day", "computed_at", "safety_events"}
    assert set(record) == columns - job_fills
    assert 0.0 <= record["coverage"] <= 1.0 and record["distance_m"] > 10_000
    event = sim_day.analysis.events.records()[0]
    assert {"t_ms", "kind", "source", "lon", "lat", "magnitude", "speed_before", "speed_after", "context"} <= set(event)


def test_exposure_rows_for_cells_and_streets(sim_day):
    analysis, city = sim_day.analysis, sim_day.city
    brakes = analysis.events.of_kind("harsh_brake")
    _, _, per_cell = cell_events(analysis, city, ["harsh_brake"])
    assert per_cell.sum() == len(brakes)
    tr, street, count = segment_events(analysis, ["harsh_brake"])
    assert count.sum() == np.count_nonzero(analysis.matched.line[brakes.row] >= 0) >= 0.9 * len(brakes)
    s_tr, s_street, passes, mean_speed = analysis.segment_passes
    on_streets = set(zip(s_tr.tolist(), s_street.tolist()))
    assert set(zip(tr.tolist(), street.tolist())) <= on_streets  # events only where there was exposure
    assert np.all(passes >= 1) and np.all((mean_speed >= 0) & (mean_speed < 30))
    c_tr, _, c_passes = analysis.cell_passes
    assert np.all(c_passes >= 1) and set(c_tr.tolist()) == set(range(len(sim_day.truth)))
