"""GeoJSON shapes (RFC 7946) as response models; coordinates are [lon, lat] in WGS 84 degrees."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel


class Feature(BaseModel):
    type: Literal["Feature"] = "Feature"
    geometry: dict[str, Any] | None
    properties: dict[str, Any]


class FeatureCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature]


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def feature(geometry: dict[str, Any] | orjson.Fragment | None, **properties: Any) -> dict[str, Any]:
    """A Feature; a geometry already serialised (orjson.Fragment) is embedded as it is."""
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}
