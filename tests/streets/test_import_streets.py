"""import-streets against a real database: OSM XML and GIS files read by pyogrio (GDAL), split,
stored idempotently; plans on changed streets are reported."""

from __future__ import annotations

import json

import asyncpg
import numpy as np
import pyogrio
import pytest
from support import run

from fleetpilot.streets.network import split
from fleetpilot.streets.read import UnreadableStreets, read_lines
from fleetpilot.streets.store import store_streets

# Three ways: a two-way street crossed by a one-way street (nodes 2 shared), and a footway.
OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="test">
  <node id="1" lat="60.1700" lon="24.9400" version="1"/>
  <node id="2" lat="60.1700" lon="24.9410" version="1"/>
  <node id="3" lat="60.1700" lon="24.9420" version="1"/>
  <node id="4" lat="60.1695" lon="24.9410" version="1"/>
  <node id="5" lat="60.1705" lon="24.9410" version="1"/>
  <way id="10" version="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="residential"/><tag k="name" v="Testikatu"/><tag k="maxspeed" v="30"/></way>
  <way id="11" version="1"><nd ref="4"/><nd ref="2"/><nd ref="5"/>
    <tag k="highway" v="secondary"/><tag k="name" v="Yksisuuntainen"/><tag k="oneway" v="-1"/></way>
  <way id="12" version="1"><nd ref="1"/><nd ref="4"/><tag k="highway" v="footway"/></way>
</osm>
"""


@pytest.fixture
def osm_file(tmp_path):
    path = tmp_path / "tiny.osm"
    path.write_text(OSM)
    return path


def test_an_osm_extract_becomes_segments_split_at_its_intersection(osm_file):
    segments = split(read_lines(osm_file))
    assert len(segments) == 4  # each street split at node 2; the footway left out
    names = sorted({s.name for s in segments})
    assert names == ["Testikatu", "Yksisuuntainen"]
    one_way = [s for s in segments if s.name == "Yksisuuntainen"]
    assert all(s.one_way and s.speed_limit_kmh == 50.0 for s in one_way)  # class default, no maxspeed
    assert all(s.coords[0, 1] > s.coords[-1, 1] for s in one_way)  # oneway=-1: drawn north, driven south
    assert all(s.speed_limit_kmh == 30.0 and not s.one_way for s in segments if s.name == "Testikatu")
    assert all(s.segment_id.startswith(("osm-10-", "osm-11-")) for s in segments)


@pytest.mark.parametrize("driver,suffix", [("GeoJSON", ".geojson"), ("GPKG", ".gpkg"), ("ESRI Shapefile", ".shp")])
def test_gis_centre_lines_are_read_with_their_fields(tmp_path, driver, suffix):
    import shapely

    path = tmp_path / f"centrelines{suffix}"
    geoms = np.array(
        [
            shapely.LineString([(-96.80, 32.78), (-96.795, 32.78), (-96.79, 32.78)]),
            shapely.LineString([(-96.795, 32.775), (-96.795, 32.78)]),
        ]
    )
    pyogrio.raw.write(
        path,
        geometry=shapely.to_wkb(geoms),
        field_data=[
            np.array(["Elm St", "Oak Ave"], dtype=object),
            np.array(["residential", "tertiary"], dtype=object),
            np.array([35.0, 0.0]),
            np.array(["no", "yes"], dtype=object),
        ],
        fields=["name", "fclass", "maxspeed", "oneway"],
        geometry_type="LineString",
        crs="EPSG:4326",
        driver=driver,
    )
    segments = split(read_lines(path))
    assert len(segments) == 3  # Oak Ave ends on a vertex in Elm St's middle (noded lines): Elm St in two
    elm = [s for s in segments if s.name == "Elm St"]
    assert len(elm) == 2 and all(s.speed_limit_kmh == 35.0 and not s.one_way for s in elm)
    (oak,) = [s for s in segments if s.name == "Oak Ave"]
    assert oak.one_way and oak.speed_limit_kmh == 40.0  # "0" is no limit: the class default


def test_a_file_without_lines_or_classes_is_refused_in_one_line(tmp_path):
    with pytest.raises(UnreadableStreets, match="no such file"):
        read_lines(tmp_path / "missing.geojson")
    path = tmp_path / "points.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [0, 0]}}
                ],
            }
        )
    )
    with pytest.raises(UnreadableStreets, match="no layer of lines"):
        read_lines(path)


def test_reimporting_changes_nothing_and_plans_on_changed_streets_are_reported(db_url, osm_file, tmp_path):
    segments = split(read_lines(osm_file))
    # The plan uses the piece of the one-way street that reaches node 5.
    planned = max((s for s in segments if s.name == "Yksisuuntainen"), key=lambda s: s.coords[:, 1].max()).segment_id
    # Node 5 moves: that piece gets a new id; the other three pieces stay as they were.
    moved = tmp_path / "moved.osm"
    moved.write_text(OSM.replace('<node id="5" lat="60.1705"', '<node id="5" lat="60.1707"'))
    after = split(read_lines(moved))

    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            first = await store_streets(conn, segments)
            version = await conn.fetchval("SELECT value FROM fleetpilot_meta WHERE key = 'city_version'")
            again = await store_streets(conn, segments)
            same_version = await conn.fetchval("SELECT value FROM fleetpilot_meta WHERE key = 'city_version'")
            await conn.execute("INSERT INTO routes (route_id, name, current_version) VALUES ('r1', 'r1', 1)")
            await conn.execute("INSERT INTO route_versions (route_id, version, created_by) VALUES ('r1', 1, 't')")
            await conn.execute(
                "INSERT INTO route_segments (route_id, version, seq, segment_id, service, speed_limit_kmh, geometry)"
                " VALUES ('r1', 1, 1, $1, true, 50, '{}'::jsonb)",
                planned,
            )
            changed = await store_streets(conn, after)
            stored = await conn.fetchval("SELECT count(*) FROM street_segments")
            return first, again, version == same_version, changed, stored
        finally:
            await conn.close()

    first, again, version_kept, changed, stored = run(body())
    assert (first.added, first.changed, first.removed) == (4, 0, 0)
    assert (again.added, again.changed, again.removed, again.unchanged) == (0, 0, 0, 4)
    assert version_kept  # nothing written: the city layer's version did not move
    assert (changed.unchanged, changed.removed, changed.added) == (3, 1, 1)
    assert changed.plans_to_review == {"r1": [planned]}
    assert stored == len(after)
