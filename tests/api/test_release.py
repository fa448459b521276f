"""`fleetpilot release`: the open-data bundle is k-anonymous (the /ogc layers' own features),
valid for the `frictionless` tool, readable by GDAL (GeoJSON, CSV) and as GeoParquet, and
linked from the transparency page. Commands and their output are printed (pytest -s)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import shapely
from gis_city import seed_city
from support import run, with_conn

from fleetpilot.api.ogc.layers import LAYERS

pytestmark = pytest.mark.integration
TOOL_TIMEOUT_S = 120


def _run(*command: str, env: dict | None = None, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, env=env)
    print(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}")
    if ok:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def _bin(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).with_name(name))
    assert Path(found).exists(), f"{name} is missing"
    return found


@pytest.fixture
def released(api, tmp_path):
    run(with_conn(api.database_url, seed_city))
    week1 = api.world.week1
    start, end = week1.isoformat(), (week1 + timedelta(weeks=4)).isoformat()
    out = tmp_path / "bundle"
    env = {**os.environ, "FLEETPILOT_DATABASE_URL": api.database_url, "FLEETPILOT_DATA_DIR": str(tmp_path)}
    _run(_bin("fleetpilot"), "release", "--from", start, "--to", end, "--out", str(out), env=env)
    return api, out, f"{start}/{(week1 + timedelta(weeks=4, days=-1)).isoformat()}"


def _ogc(api, layer_id: str, when: str) -> list[dict]:
    r = api.get(f"/ogc/collections/{layer_id}/items", "data_officer", params={"datetime": when, "limit": 10000})
    assert r.status_code == 200
    return r.json()["features"]


def test_the_bundle_validates_with_frictionless(released):
    _, out, _ = released
    done = _run(_bin("frictionless"), "validate", "--json", str(out / "datapackage.json"))
    report = json.loads(done.stdout)
    assert report["valid"] is True
    assert len(report["tasks"]) == 3 * len(LAYERS)
    assert all(task["valid"] for task in report["tasks"])
    package = json.loads((out / "datapackage.json").read_text())
    assert package["suppression"]["k_min_shifts"] == 5 and package["suppression"]["k_min_people"] == 3
    for resource in package["resources"]:
        if resource["type"] == "table":
            for field in resource["schema"]["fields"]:
                assert field["description"] and not field["description"].startswith("as the field"), field
    # The validation can fail: a changed file no longer matches its recorded hash and size.
    table = out / "tables" / "route-efficiency.csv"
    table.write_text(table.read_text().replace("r-north", "r-nort"))
    broken = _run(_bin("frictionless"), "validate", "--json", str(out / "datapackage.json"), ok=False)
    assert broken.returncode != 0 and json.loads(broken.stdout)["valid"] is False


def test_the_bundle_holds_exactly_the_released_features(released):
    api, out, when = released
    for layer_id in LAYERS:
        expected = _ogc(api, layer_id, when) if LAYERS[layer_id].temporal else _ogc(api, layer_id, "..")
        geojson = json.loads((out / "layers" / f"{layer_id}.geojson").read_text())["features"]
        assert geojson == expected, layer_id
        rows = list(csv.DictReader((out / "tables" / f"{layer_id}.csv").open()))
        assert [r["id"] for r in rows] == [f["id"] for f in expected]
        table = pq.read_table(out / "layers" / f"{layer_id}.parquet")
        geo = json.loads(table.schema.metadata[b"geo"])
        assert geo["version"] == "1.1.0" and geo["columns"]["geometry"]["encoding"] == "WKB"
        assert table.column("id").to_pylist() == [f["id"] for f in expected]
        read = shapely.from_wkb(table.column("geometry").to_pylist())
        for got, feature in zip(read, expected):
            assert got.equals(shapely.geometry.shape(feature["geometry"])), layer_id
    aggregates = [layer_id for layer_id, layer in LAYERS.items() if layer.temporal]
    text = "".join((out / "tables" / f"{layer_id}.csv").read_text() for layer_id in aggregates)
    text += "".join((out / "layers" / f"{layer_id}.geojson").read_text() for layer_id in aggregates)
    assert "r-south" not in text  # both of its shifts are in withheld blocks (its plan is published)
    hidden_weeks = [(api.world.week1 + timedelta(weeks=w)).isoformat() for w in (1, 2)]
    rows = list(csv.DictReader((out / "tables" / "route-efficiency.csv").open()))
    assert [r["week_start"] for r in rows] == [api.world.week1.isoformat()]
    assert not set(hidden_weeks) & {r["week_start"] for r in rows}


def test_gdal_reads_the_bundle_back(released):
    _, out, _ = released
    ogrinfo = shutil.which("ogrinfo")
    assert ogrinfo, "ogrinfo is missing: ./fp test installs Debian's gdal-bin"
    for layer_id in LAYERS:
        features = json.loads((out / "layers" / f"{layer_id}.geojson").read_text())["features"]
        for path in (out / "layers" / f"{layer_id}.geojson", out / "tables" / f"{layer_id}.csv"):
            summary = _run(ogrinfo, "-ro", "-so", "-al", str(path)).stdout
            assert f"Feature Count: {len(features)}" in summary, path
        geojson = _run(ogrinfo, "-ro", "-al", "-q", str(out / "layers" / f"{layer_id}.geojson")).stdout
        assert geojson.count("OGRFeature(") == len(features)


def test_the_transparency_page_links_the_latest_release(released):
    api, out, _ = released
    facts = api.get("/api/v1/transparency", None).json()["latest_open_data"]
    assert facts["period_start"] == api.world.week1.isoformat()
    page = api.get("/transparency", None).text
    assert 'href="/open-data/latest/datapackage.json"' in page
    served = api.get("/open-data/latest/datapackage.json", None)
    assert served.status_code == 200
    assert served.json() == json.loads((out / "datapackage.json").read_text())
    assert api.get("/open-data/latest/tables/route-efficiency.csv", None).status_code == 200
    for probe in ("../../../etc/passwd", "nope.csv", "%2e%2e/%2e%2e/etc/passwd", "..%2f..%2fetc%2fpasswd"):
        assert api.get(f"/open-data/latest/{probe}", None).status_code == 404, probe


def test_the_weekly_release_is_written_once_per_period(api, tmp_path):
    """The rollup service's job (api/release/schedule.py): once a city week has ended, the
    release of the weeks just ended is written — once, however often it is asked — and the next
    week brings the next release, which the transparency page then links."""
    from datetime import datetime, time, timezone

    from fleetpilot.api.release.schedule import release_if_due

    run(with_conn(api.database_url, seed_city))
    tz = api.client.app.state.settings.timezone
    week1 = api.world.week1
    wednesday = datetime.combine(week1 + timedelta(weeks=4, days=2), time(18), tzinfo=timezone.utc)
    first = run(release_if_due(api.database_url, tmp_path, tz, 4, now=wednesday))
    assert first is not None and (first.scope.start, first.scope.end) == (week1, week1 + timedelta(weeks=4))
    assert (tmp_path / "releases" / f"{week1}_{week1 + timedelta(weeks=4)}" / "datapackage.json").is_file()
    for later in (wednesday, wednesday + timedelta(days=3)):  # same week: nothing more
        assert run(release_if_due(api.database_url, tmp_path, tz, 4, now=later)) is None
    assert run(release_if_due(api.database_url, tmp_path, tz, 0, now=wednesday + timedelta(weeks=1))) is None
    assert api.sql("SELECT count(*) FROM open_data_releases")[0][0] == 1
    following = run(release_if_due(api.database_url, tmp_path, tz, 4, now=wednesday + timedelta(weeks=1)))
    assert (following.scope.start, following.scope.end) == (week1 + timedelta(weeks=1), week1 + timedelta(weeks=5))
    facts = api.get("/api/v1/transparency", None).json()["latest_open_data"]
    assert facts["period_start"] == (week1 + timedelta(weeks=1)).isoformat()
    assert api.get(facts["datapackage"], None).json()["temporal"]["start"] == facts["period_start"]


def test_a_release_made_under_a_lower_k_is_not_served_once_k_is_raised(api, tmp_path):
    """Issue 13 (stored answers outlive their rule), the open-data door: a bundle released
    while k was lowered to (2, 2) holds week 3 of r-north (3 shifts) and r-south; once k is
    back at (5, 3) it is no longer the latest release served, and a release made under the
    live k is."""
    from fleetpilot.api.release.bundle import release

    week1 = api.world.week1
    days = (week1, week1 + timedelta(weeks=4))
    api.sql("UPDATE privacy_settings SET k_min_shifts = 2, k_min_people = 2")
    lowered = run(release(api.database_url, days, tmp_path / "lowered"))
    assert lowered.scope.k_shifts == 2
    weeks = {f["properties"]["week_start"] for f in _features(tmp_path / "lowered")}
    assert (week1 + timedelta(weeks=2)).isoformat() in weeks  # the lowered k let week 3 out
    assert api.get("/open-data/latest/datapackage.json", None).status_code == 200
    api.sql("UPDATE privacy_settings SET k_min_shifts = 5, k_min_people = 3")
    assert api.get("/open-data/latest/datapackage.json", None).status_code == 404
    assert api.get("/api/v1/transparency", None).json()["latest_open_data"] is None
    run(release(api.database_url, days, tmp_path / "live"))
    served = api.get("/open-data/latest/layers/route-efficiency.geojson", None)
    assert served.status_code == 200
    assert {f["properties"]["week_start"] for f in served.json()["features"]} == {week1.isoformat()}


def _features(out: Path) -> list[dict]:
    return json.loads((out / "layers" / "route-efficiency.geojson").read_text())["features"]


def test_a_release_is_withdrawn_and_written_again_when_its_data_change(api, tmp_path):
    """Issue 13 (stored answers are recomputed or withdrawn when the data change), the open-data
    door: the release carries a fingerprint of its released figures. A change inside a withheld
    block (week 2 of r-north, one driver) leaves it served — a withdrawal would tell that
    something hidden changed; a change inside a released block (week 1) withdraws it (410, and
    the transparency page links none) until the weekly job writes the period again, with the
    new figures."""
    from datetime import datetime, time, timezone

    from fleetpilot.api.release.schedule import release_if_due

    run(with_conn(api.database_url, seed_city))
    tz = api.client.app.state.settings.timezone
    week1 = api.world.week1
    wednesday = datetime.combine(week1 + timedelta(weeks=4, days=2), time(18), tzinfo=timezone.utc)
    first = run(release_if_due(api.database_url, tmp_path, tz, 4, now=wednesday))
    assert first is not None
    layer = "/open-data/latest/layers/route-efficiency.geojson"

    def distances() -> list[float]:
        served = api.get(layer, None)
        assert served.status_code == 200, served.text
        return sorted(f["properties"]["distance_km_per_shift"] for f in served.json()["features"])

    before = distances()
    api.sql(
        "UPDATE shift_metrics SET distance_m = distance_m * 3 WHERE route_id = 'r-north' AND day >= $1 AND day < $2",
        week1 + timedelta(weeks=1),
        week1 + timedelta(weeks=2),
    )
    assert distances() == before  # withheld: nothing to tell
    assert run(release_if_due(api.database_url, tmp_path, tz, 4, now=wednesday)) is None
    api.sql(
        "UPDATE shift_metrics SET distance_m = distance_m * 2 WHERE route_id = 'r-north' AND day >= $1 AND day < $2",
        week1,
        week1 + timedelta(weeks=1),
    )
    gone = api.get(layer, None)
    assert gone.status_code == 410 and "changed" in gone.json()["detail"]
    assert api.get("/open-data/latest/datapackage.json", None).status_code == 410
    assert api.get("/api/v1/transparency", None).json()["latest_open_data"] is None
    again = run(release_if_due(api.database_url, tmp_path, tz, 4, now=wednesday))
    assert again is not None and again.release_id > first.release_id
    assert distances() == pytest.approx([d * 2 for d in before])
    assert run(release_if_due(api.database_url, tmp_path, tz, 4, now=wednesday)) is None
