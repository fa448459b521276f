"""The city's GeoJSON is parsed once per process for the rollup's three cities (rollup/geojson.py)."""

from __future__ import annotations

import shapely

from fleetpilot.rollup import geojson

A = [
    '{"type": "LineString", "coordinates": [[24.9, 60.1], [24.91, 60.11]]}',
    '{"type": "Point", "coordinates": [1, 2]}',
]
B = [
    '{"type": "LineString", "coordinates": [[24.9, 60.1], [24.92, 60.12]]}',
    '{"type": "Point", "coordinates": [1, 2]}',
]


def test_the_same_texts_are_parsed_once_and_other_texts_again(monkeypatch):
    calls = []
    parse = shapely.from_geojson
    monkeypatch.setattr(shapely, "from_geojson", lambda texts: calls.append(len(texts)) or parse(texts))
    monkeypatch.setattr(geojson, "_last", None)
    first = geojson.parsed(A)
    again = geojson.parsed(list(A))
    other = geojson.parsed(B)
    assert calls == [2, 2]  # A once, B once
    assert list(shapely.equals(first, again)) == [True, True] and again is not first
    assert list(shapely.equals(other, shapely.from_geojson(B))) == [True, True]
    assert not shapely.equals(other[0], first[0])
