"""Route plan bodies. The GeoJSON is the simulator's routes.geojson format: one feature per
planned segment (LineString) or stop (Point), properties route_id, feature_type, seq,
segment_id, service, speed_limit_kmh / stop_id. Input is validated fully here so the
importer only ever sees well-formed plans."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Lon = Annotated[float, Field(ge=-180, le=180)]
Lat = Annotated[float, Field(ge=-90, le=90)]
Position = tuple[Lon, Lat] | tuple[Lon, Lat, Annotated[float, Field(allow_inf_nan=False)]]
PlanId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
MAX_FEATURES = 50_000


class LineString(BaseModel):
    type: Literal["LineString"]
    coordinates: list[Position] = Field(min_length=2, max_length=10_000)


class Point(BaseModel):
    type: Literal["Point"]
    coordinates: Position


class PlanProperties(BaseModel):
    model_config = ConfigDict(extra="allow")

    route_id: PlanId
    feature_type: Literal["segment", "stop"]
    seq: int = Field(ge=0, le=1_000_000)
    route_name: str | None = Field(None, max_length=200)
    segment_id: PlanId | None = None
    service: bool = True
    speed_limit_kmh: float | None = Field(None, ge=1, le=200)
    stop_id: PlanId | None = None


class PlanFeature(BaseModel):
    type: Literal["Feature"]
    geometry: LineString | Point
    properties: PlanProperties

    @model_validator(mode="after")
    def _shape_matches_kind(self) -> PlanFeature:
        kind = self.properties.feature_type
        if kind == "segment" and (self.geometry.type != "LineString" or self.properties.segment_id is None):
            raise ValueError("a segment feature is a LineString with properties.segment_id")
        if kind == "stop" and (self.geometry.type != "Point" or self.properties.stop_id is None):
            raise ValueError("a stop feature is a Point with properties.stop_id")
        return self


class PlanCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[PlanFeature] = Field(min_length=1, max_length=MAX_FEATURES)
    note: str | None = Field(None, max_length=500, description="recorded with the new versions")

    @model_validator(mode="after")
    def _unique_seq(self) -> PlanCollection:
        seen = set()
        for f in self.features:
            key = (f.properties.route_id, f.properties.feature_type, f.properties.seq)
            if key in seen:
                raise ValueError(f"duplicate seq {key[2]} among the {key[1]}s of route {key[0]}")
            seen.add(key)
        return self

    def importer_dict(self) -> dict[str, Any]:
        """The plain dict `fleetpilot.db.importer.import_routes` reads."""
        return {
            "type": "FeatureCollection",
            "features": [f.model_dump(mode="json", exclude_none=True) for f in self.features],
        }


class RouteOut(BaseModel):
    route_id: str
    name: str
    active: bool
    current_version: int | None
    versions: int
    segments: int  # in the current version
    stops: int


class VersionOut(BaseModel):
    version: int
    created_at: datetime
    created_by: str | None
    note: str | None
    segments: int
    stops: int
    shifts: int  # shifts that drove this version


class RouteDetail(RouteOut):
    history: list[VersionOut]


class RouteChange(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    active: bool | None = None


class Imported(BaseModel):
    versions: dict[str, int]  # route_id -> version now current (a new one only where the plan changed)
