"""GDAL as the city's GIS would use it: its OAPIF driver (Debian's gdal-bin, which ./fp test
installs) lists and reads every layer at /ogc with a read-only API key, and the features it
reads equal the API's own answers. The commands and what they print are in the test log."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess

import httpx
import pytest
from gis_city import seed_city
from support import run, with_conn

from fleetpilot.api.ogc.layers import LAYERS

pytestmark = pytest.mark.integration
GDAL_TIMEOUT_S = 120


def _gdal(*args: str, key: str) -> str:
    tool = shutil.which(args[0])
    assert tool, f"{args[0]} is missing: ./fp test installs Debian's gdal-bin"
    command = [tool, "--config", "GDAL_HTTP_HEADERS", f"X-API-Key: {key}", *args[1:]]
    done = subprocess.run(command, capture_output=True, text=True, timeout=GDAL_TIMEOUT_S)
    shown = " ".join(a if a != key and "X-API-Key" not in a else "X-API-Key: fpk_…" for a in args)
    print(f"$ {shown}\n{done.stdout}{done.stderr}")
    assert done.returncode == 0, done.stderr
    assert "ERROR" not in done.stderr, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def gis(served):
    """The served app with a city and a read-only key issued by the admin over HTTP."""

    run(with_conn(served.app.state.settings.database_url, seed_city))
    admin = {"Authorization": f"Bearer {served.token('adam', 'admin')}"}
    issued = httpx.post(f"{served.url}/api/v1/admin/api-keys", json={"name": "GDAL test"}, headers=admin)
    assert issued.status_code == 201, issued.text
    return served, issued.json()["key"]


def _api_items(url: str, key: str, layer: str) -> list[dict]:
    """Every feature of a layer as the API serves it (following its next links)."""
    features, next_url = [], f"{url}/ogc/collections/{layer}/items?limit=1000"
    while next_url:
        body = httpx.get(next_url, headers={"X-API-Key": key}).json()
        features += body["features"]
        next_url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    return features


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def test_ogrinfo_lists_every_collection(gis):
    served, key = gis
    out = _gdal("ogrinfo", "-ro", "-so", f"OAPIF:{served.url}/ogc", key=key)
    listed = re.findall(r"^\d+: (\S+)", out, flags=re.MULTILINE)
    assert sorted(listed) == sorted(LAYERS)


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_gdal_reads_each_collection_as_the_api_answers(gis, layer, tmp_path):
    served, key = gis
    summary = _gdal("ogrinfo", "-ro", "-so", "-al", f"OAPIF:{served.url}/ogc", layer, key=key)
    expected = _api_items(served.url, key, layer)
    assert f"Feature Count: {len(expected)}" in summary
    target = tmp_path / f"{layer}.geojson"
    # Small pages, so GDAL has to follow the paging links.
    _gdal("ogr2ogr", "-f", "GeoJSON", str(target), f"OAPIF:{served.url}/ogc", layer, "-oo", "PAGE_SIZE=2", key=key)
    read = json.loads(target.read_text())["features"]
    assert expected, f"{layer}: the test city should give every layer features"
    assert len(read) == len(expected)
    by_id = {f["properties"]["id"]: f for f in read}
    for feature in expected:
        got = by_id[feature["id"]]
        assert got["geometry"]["type"] == feature["geometry"]["type"]
        assert _same(got["geometry"]["coordinates"], feature["geometry"]["coordinates"])
        for name, value in feature["properties"].items():
            assert _same(got["properties"].get(name), value), (layer, feature["id"], name, value)
