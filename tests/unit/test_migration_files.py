"""Static checks of the migration set: naming, variants, and mode parity of the DDL."""

from __future__ import annotations

import re

import pytest

from fleetpilot.db.migrate import discover


def _columns(sql: str, table: str) -> list[tuple[str, str]]:
    body = re.search(rf"CREATE TABLE {table} \((.*?)\n\)", sql, re.S).group(1)
    cols = []
    for line in body.splitlines():
        line = line.strip()
        if not line or line.startswith(("PRIMARY KEY", "CHECK", "--", "'")):
            continue
        name, type_ = line.split()[:2]
        cols.append((name, type_.rstrip(",")))
    return cols


def test_versions_are_consecutive_and_variants_complete():
    migrations = discover()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    for m in migrations:
        assert set(m.variants) in ({"common"}, {"native", "timescale"}), m


@pytest.mark.parametrize("table", ["fixes", "events"])
def test_both_modes_define_the_same_time_series_columns(table):
    timeseries = next(m for m in discover() if m.name == "timeseries")
    native = timeseries.variants["native"].read_text()
    timescale = timeseries.variants["timescale"].read_text()
    assert _columns(native, table) == _columns(timescale, table)
    key = {"fixes": "PRIMARY KEY (vehicle_id, ts)", "events": "PRIMARY KEY (vehicle_id, ts, kind)"}[table]
    assert key in native and key in timescale


def test_both_modes_define_the_same_time_rollup_columns():
    rollups = next(m for m in discover() if m.name == "time_rollups")
    native = rollups.variants["native"].read_text()
    timescale = rollups.variants["timescale"].read_text()
    assert [c for c, _ in _columns(native, "fixes_hourly")] == [
        "vehicle_id",
        "bucket",
        "fixes",
        "moving_fixes",
        "avg_speed_mps",
        "max_speed_mps",
    ]
    view = re.search(r"MATERIALIZED VIEW fixes_hourly.*?FROM fixes", timescale, re.S).group(0)
    for column in ("bucket", "fixes", "moving_fixes", "avg_speed_mps", "max_speed_mps"):
        assert f"AS {column}" in view
