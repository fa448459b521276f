"""Features to GeoParquet 1.1: one WKB geometry column, the `geo` metadata, typed columns.

Written with pyarrow and shapely (already dependencies) rather than geopandas (pandas and
pyproj for one file format); the layers are aggregates, small enough to build in memory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

ARROW_TYPES = {"integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_(), "date": pa.string()}


def write(path: Path, features: list[dict[str, Any]], fields: list[tuple[str, str]]) -> None:
    """`fields`: (name, Table Schema type) in column order; the geometry column comes last."""
    geometries = shapely.from_geojson(
        [orjson.dumps(f["geometry"]).decode() if f["geometry"] else "null" for f in features], on_invalid="ignore"
    )
    columns = {
        name: pa.array([_value(f, name) for f in features], type=ARROW_TYPES.get(kind, pa.string()))
        for name, kind in fields
    }
    columns["geometry"] = pa.array(shapely.to_wkb(geometries).tolist() if features else [], type=pa.binary())
    present = sorted({g.geom_type for g in geometries if g is not None})
    bbox = [float(v) for v in shapely.total_bounds(geometries)] if present else None
    geo = {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {
            # No "crs": GeoParquet's default is OGC:CRS84 (longitude, latitude in WGS 84).
            "geometry": {"encoding": "WKB", "geometry_types": present, **({"bbox": bbox} if bbox else {})}
        },
    }
    table = pa.table(columns).replace_schema_metadata({"geo": json.dumps(geo)})
    pq.write_table(table, path)


def _value(feature: dict[str, Any], name: str) -> Any:
    return feature["id"] if name == "id" else feature["properties"].get(name)
