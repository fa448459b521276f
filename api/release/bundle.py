"""Writing a k-anonymous open-data bundle from the /ogc layers.

Each layer is built by its spec in ``fleetpilot.api.ogc.layers`` — the API endpoint's own
service function, with the AggregateScope the policy module hands out — so the bundle holds
exactly what the API and the GIS layers show (decision 0004): no (unit, ISO week) block under
k shifts or k people enters any figure. Per layer: GeoJSON and GeoParquet (the geometry) and
CSV (the attributes, for spreadsheets and Frictionless validation), described field by field
with units and the suppression rule in a Frictionless `datapackage.json`.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from fleetpilot.api import policy
from fleetpilot.api.db import open_pool
from fleetpilot.api.ogc.layers import LAYERS, Feature, Layer
from fleetpilot.api.policy import Access, AggregateScope, Capability
from fleetpilot.api.release import geoparquet
from fleetpilot.api.release.fields import describe

PUBLISHED = tuple(LAYERS)  # every /ogc layer
DATE_FIELDS = {"start", "end", "week_start", "period_start"}
RULE = (
    "Figures are built only from (unit, ISO week) blocks — route × week, street segment × week,"
    " grid cell × week — that hold at least k_min_shifts shifts driven by at least k_min_people"
    " distinct people. A smaller block enters no figure and no row, whatever range is asked for,"
    " so no difference of two releases reveals it (fleetpilot docs/decisions/0004)."
)
RECORD = """
INSERT INTO open_data_releases (period_start, period_end, k_min_shifts, k_min_people, directory, files, data_fingerprint)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING release_id, created_at
"""
LIVE_K = "SELECT k_min_shifts, k_min_people FROM privacy_settings"


@dataclass(frozen=True)
class Release:
    release_id: int
    directory: Path
    scope: AggregateScope
    package: dict[str, Any]


def _type(name: str, values: list[Any]) -> str:
    """The Table Schema type of a column."""
    if name in DATE_FIELDS:
        return "date"
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return "boolean"
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "integer"
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "number"
    return "string"


def _columns(features: list[Feature]) -> list[str]:
    names: dict[str, None] = {"id": None}
    for f in features:
        names.update(dict.fromkeys(f["properties"]))
    return list(names)


def _value(feature: Feature, name: str) -> Any:
    return feature["id"] if name == "id" else feature["properties"].get(name)


def _schema(layer: Layer, features: list[Feature]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    typed = [(name, _type(name, [_value(f, name) for f in features])) for name in _columns(features)]
    fields = []
    for name, kind in typed:
        unit, description = describe(name, layer.mirrors)
        fields.append({"name": name, "type": kind, "description": description, **({"unit": unit} if unit else {})})
    return {"fields": fields, "primaryKey": ["id"]}, typed


def _csv(path: Path, features: list[Feature], typed: list[tuple[str, str]]) -> None:
    def cell(value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else value

    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow([name for name, _ in typed])
        writer.writerows([cell(_value(f, name)) for name, _ in typed] for f in features)


def _file(path: Path, base: Path, name: str, fmt: str, mediatype: str, **more: Any) -> dict[str, Any]:
    data = path.read_bytes()
    return {
        "name": name,
        "path": str(path.relative_to(base)),
        "type": more.pop("type", "file"),
        "scheme": "file",
        "format": fmt,
        "mediatype": mediatype,
        "encoding": "utf-8" if fmt in ("csv", "geojson") else None,
        "bytes": len(data),
        "hash": "sha256:" + hashlib.sha256(data).hexdigest(),
        **more,
    }


async def build(conn: asyncpg.Connection, days: tuple[date, date], directory: Path) -> Release:
    """Write the bundle for [from, to) — widened to whole ISO weeks — into `directory`
    (replaced if it exists) and record it; the transparency page links the latest."""
    # A release is a data officer's export, admitted by the policy module like the API's.
    scope = await policy.aggregate_scope(conn, Access(Capability.EXPORTS, None, None), days)
    work = directory.with_name(directory.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    (work / "layers").mkdir(parents=True)
    (work / "tables").mkdir()
    resources = []
    figures: dict[str, list[Feature]] = {}
    for layer_id in PUBLISHED:
        layer = LAYERS[layer_id]
        features = await layer.build(conn, scope if layer.temporal else None)
        if layer.temporal:
            figures[layer.id] = features
        schema, typed = _schema(layer, features)
        geojson = work / "layers" / f"{layer.id}.geojson"
        geojson.write_bytes(orjson.dumps({"type": "FeatureCollection", "features": features}))
        parquet = work / "layers" / f"{layer.id}.parquet"
        geoparquet.write(parquet, features, typed)
        table = work / "tables" / f"{layer.id}.csv"
        _csv(table, features, typed)
        about = {"title": layer.title, "description": layer.description}
        resources += [
            _file(table, work, layer.id, "csv", "text/csv", type="table", schema=schema, **about),
            _file(geojson, work, f"{layer.id}-geojson", "geojson", "application/geo+json", **about),
            _file(parquet, work, f"{layer.id}-geoparquet", "parquet", "application/vnd.apache.parquet", **about),
        ]
    package = {
        "$schema": "https://datapackage.org/profiles/2.0/datapackage.json",
        "name": f"fleetpilot-{scope.start}-{scope.end}",
        "title": f"Sanitation fleet aggregates, {scope.start} to {scope.end}",
        "description": "Route coverage and efficiency, exposure-normalised safety hotspots, facilities and route"
        " plans of the city's sanitation fleet pilot. No person, shift or vehicle track is in it. " + RULE,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "version": "1.0.0",
        "keywords": ["sanitation", "waste collection", "road safety", "k-anonymity"],
        "temporal": {"start": scope.start.isoformat(), "end": scope.end.isoformat(), "end_exclusive": True},
        "suppression": {"rule": RULE, "k_min_shifts": scope.k_shifts, "k_min_people": scope.k_people},
        "resources": [{k: v for k, v in r.items() if v is not None} for r in resources],
    }
    (work / "datapackage.json").write_bytes(orjson.dumps(package, option=orjson.OPT_INDENT_2))
    shutil.rmtree(directory, ignore_errors=True)
    work.rename(directory)
    files = ["datapackage.json", *(r["path"] for r in package["resources"])]
    where = str(directory.resolve())  # noqa: ASYNC240 (one path lookup)
    row = await conn.fetchrow(
        RECORD, scope.start, scope.end, scope.k_shifts, scope.k_people, where, files, _digest(figures)
    )
    return Release(row["release_id"], directory, scope, package)


def _digest(figures: dict[str, list[Feature]]) -> str:
    return hashlib.sha256(orjson.dumps(figures, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


async def fingerprint(conn: asyncpg.Connection, scope: AggregateScope) -> str:
    """What a release over `scope` holds of the data: a hash of the features of every temporal
    layer — the released figures, built from released blocks only (decision 0004). A change
    inside a released block changes it; a change inside a withheld one does not, so it tells
    nothing of what is hidden (decision 0022)."""
    figures = {layer.id: await layer.build(conn, scope) for layer in LAYERS.values() if layer.temporal}
    return _digest(figures)


async def stale(conn: asyncpg.Connection, release: dict[str, Any]) -> str | None:
    """Why a recorded release (a row of open_data_releases) may no longer be served, None when
    it may: made under a k below the live one, or its period's data give other figures now
    (recomputed under the release's own k and period)."""
    live = await conn.fetchrow(LIVE_K)
    if live is None or release["k_min_shifts"] < live["k_min_shifts"] or release["k_min_people"] < live["k_min_people"]:
        return "it was made under a lower k than the one in force"
    if release.get("data_fingerprint") is None:
        return "it was made before releases carried a fingerprint of their data"
    scope = AggregateScope(
        release["period_start"], release["period_end"], release["k_min_shifts"], release["k_min_people"]
    )
    if release.get("data_fingerprint") != await fingerprint(conn, scope):
        return "the data of its period have changed since"
    return None


async def release(database_url: str, days: tuple[date, date], directory: Path) -> Release:
    """`build` on a connection of its own (json decoded as the API decodes it)."""
    pool = await open_pool(database_url, max_size=1)
    try:
        async with pool.acquire() as conn:
            return await build(conn, days, directory)
    finally:
        await pool.close()
