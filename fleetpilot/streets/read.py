"""Reading street lines from a file with pyogrio (GDAL): OSM extracts and GIS centre lines.

- ``.osm.pbf`` / ``.osm``: GDAL's OSM driver, layer ``lines`` (one feature per way) with
  ``osm_id``, ``name``, ``highway`` and the other tags in ``other_tags`` (``"k"=>"v",…``),
  from which ``oneway``, ``maxspeed`` and ``junction`` are read.
- GeoJSON, GeoPackage, Shapefile (anything GDAL reads): the first layer with lines; fields
  are found by the usual names (``FIELDS``); coordinates must be WGS 84 lon/lat or carry a
  CRS GDAL can reproject to it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyogrio
import shapely

from fleetpilot.errors import FleetpilotError
from fleetpilot.streets.network import Line

OSM_SUFFIXES = (".osm.pbf", ".pbf", ".osm")
# GIS field names tried in order (case-insensitive) for each attribute.
FIELDS = {
    "id": ("segment_id", "osm_id", "id", "objectid", "fid", "gid", "link_id"),
    "name": ("name", "street", "street_name", "st_name", "fullname", "label"),
    "road_class": ("road_class", "highway", "fclass", "class", "type", "road_type"),
    "oneway": ("oneway", "one_way", "dir", "direction"),
    "maxspeed": ("maxspeed", "speed_limit_kmh", "speed_limit", "speedlimit", "speed"),
}
_TAG = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')


class UnreadableStreets(FleetpilotError):
    """The file cannot be read as street lines."""


def other_tags(text: str | None) -> dict[str, str]:
    """GDAL's OSM ``other_tags`` hstore text → dict."""
    return dict(_TAG.findall(text or ""))


def read_lines(path: Path) -> list[Line]:
    """Every line feature of the file as a Line (MultiLineStrings become several)."""
    if not path.is_file():
        raise UnreadableStreets(f"{path}: no such file")
    try:
        if path.name.lower().endswith(OSM_SUFFIXES):
            return _osm(path)
        return _gis(path)
    except pyogrio.errors.DataSourceError as exc:
        raise UnreadableStreets(f"{path}: {exc}") from None


def _osm(path: Path) -> list[Line]:
    meta, _, geometry, values = pyogrio.raw.read(path, layer="lines", where="highway IS NOT NULL")
    field = {name: values[i] for i, name in enumerate(meta["fields"])}
    lines = []
    for i, geom in enumerate(shapely.from_wkb(geometry)):
        tags = other_tags(field["other_tags"][i])
        for coords in _parts(geom):
            lines.append(
                Line(
                    source_id=f"osm-{field['osm_id'][i]}",
                    coords=coords,
                    road_class=str(field["highway"][i]),
                    name=field["name"][i] or tags.get("name:fi") or tags.get("ref"),
                    oneway=tags.get("oneway"),
                    maxspeed=tags.get("maxspeed"),
                    roundabout=tags.get("junction") in ("roundabout", "circular"),
                )
            )
    return lines


def _gis(path: Path) -> list[Line]:
    layers = pyogrio.list_layers(path)
    layer = next((str(n) for n, kind in layers if kind and "LineString" in str(kind)), None)
    if layer is None:
        raise UnreadableStreets(f"{path}: no layer of lines (layers: {', '.join(str(n) for n, _ in layers)})")
    info = pyogrio.read_info(path, layer=layer)
    crs = info.get("crs")
    meta, fids, geometry, values = pyogrio.raw.read(path, layer=layer, return_fids=True)
    by_lower = {str(name).lower(): values[i] for i, name in enumerate(meta["fields"])}
    found = {key: next((by_lower[n] for n in names if n in by_lower), None) for key, names in FIELDS.items()}
    if found["road_class"] is None:
        raise UnreadableStreets(f"{path}: no road class field (one of {', '.join(FIELDS['road_class'])})")
    geoms = shapely.from_wkb(geometry)
    if crs and crs.upper() not in ("EPSG:4326", "OGC:CRS84"):
        raise UnreadableStreets(f"{path}: coordinates in {crs}; reproject to WGS 84 lon/lat (EPSG:4326) first")
    lines = []
    for i, geom in enumerate(geoms):
        ident = found["id"][i] if found["id"] is not None else fids[i]
        speed = found["maxspeed"][i] if found["maxspeed"] is not None else None
        for coords in _parts(geom):
            lines.append(
                Line(
                    source_id=f"gis-{ident}",
                    coords=coords,
                    road_class=str(found["road_class"][i]).lower(),
                    name=_text(found["name"][i]) if found["name"] is not None else None,
                    oneway=_text(found["oneway"][i]) if found["oneway"] is not None else None,
                    maxspeed=None if speed is None else str(speed),
                )
            )
    return lines


def _text(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _parts(geom) -> list[np.ndarray]:
    if geom is None or shapely.is_empty(geom):
        return []
    if geom.geom_type == "LineString":
        return [shapely.get_coordinates(geom)]
    if geom.geom_type == "MultiLineString":
        return [shapely.get_coordinates(g) for g in geom.geoms]
    return []
