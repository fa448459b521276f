"""Writing rows of aggregates as CSV, GeoJSON or Parquet bytes.

Aggregates are small (one row per route-period, segment or cell), so they are built in
memory; raw data never goes through here.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Literal

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

Format = Literal["geojson", "csv", "parquet"]
MEDIA_TYPES = {"geojson": "application/geo+json", "csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


def to_csv(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def to_geojson(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    """One feature per row; the row's `geometry` (or null) is the feature's geometry."""
    features = [
        {"type": "Feature", "geometry": row.get("geometry"), "properties": {c: row.get(c) for c in columns}}
        for row in rows
    ]
    return orjson.dumps({"type": "FeatureCollection", "features": features})


def to_parquet(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    table = pa.Table.from_pylist(
        [{c: row.get(c) for c in columns} for row in rows],
        schema=None if rows else pa.schema([(c, pa.string()) for c in columns]),
    )
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


WRITERS = {"geojson": to_geojson, "csv": to_csv, "parquet": to_parquet}


def write(fmt: Format, rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    return WRITERS[fmt](rows, columns)
