"""The benchmark runs end to end on a tiny fleet and prints the documented JSON."""

import json

import fleetpilot_bench.analytics as bench


def test_bench_prints_stage_timings_as_json(capsys):
    assert bench.main(["--vehicles", "3", "--hours", "2", "--repeat", "1", "--days", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["fleet_day"]["vehicles"] == 3 and report["fleet_day"]["fixes"] > 3 * 2 * 3000
    assert set(report["stages"]) == {"validate", *bench.STAGES, "hotspots"}
    for stage in report["stages"].values():
        assert stage["cpu_s"] >= 0 and stage["wall_s"] >= 0
    assert report["total"]["cpu_s"] > 0 and report["total"]["fixes_per_s"] > 0
    month = report["hotspots_month"]
    assert month["days"] == 3 and month["exposure_rows"] > 0 and month["tested_cells"] > 0
    assert report["memory"]["traced_peak_mb"] > 0 and report["memory"]["process_peak_rss_mb"] > 0
