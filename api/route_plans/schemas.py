"""Route plan bodies. The GeoJSON is the simulator's routes.geojson format: one feature per
planned segment (LineString) or stop (Point), properties route_id, feature_type, seq,
segment_id, service, speed_limit_kmh / stop_id. Input is validated fully here so the
importer only ever sees well-formed plans."""

from __future__ import annotations

from datetime import date, datetime
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
    effective_from: date | None = Field(
        None,
        description="the city's local day from which the new versions apply (today or later; default today): "
        "shifts from that day that have not started drive it, the crew sees it on their page",
    )

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
    current_version: int | None  # the newest saved
    applies_today: int | None  # the version that applies on the city's day today
    versions: int
    segments: int  # in the current version
    stops: int


class VersionOut(BaseModel):
    version: int
    created_at: datetime
    created_by: str | None
    note: str | None
    effective_from: date | None  # the local day it applies from (None: from the start)
    segments: int
    stops: int
    shifts: int  # shifts that drove this version, in weeks released by the k rule (decision 0004)


class RouteDetail(RouteOut):
    history: list[VersionOut]


class RouteChange(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    active: bool | None = None


class Imported(BaseModel):
    versions: dict[str, int]  # route_id -> version now current (a new one only where the plan changed)
    effective_from: date  # the local day the new versions apply from


# --- how plans worked out: versions compared, workload per route (api/route_plans/performance.py) --


class PlanSize(BaseModel):
    """A plan version's own figures (the city's plan: no person in it)."""

    streets: int  # service segments, each once
    segments: int  # service and drive-only links
    stops: int
    service_km: float  # length of the service segments
    plan_km: float  # length of every segment of the plan


class VersionPerformance(BaseModel):
    """How shifts worked out, per shift, from released cells only (decision 0004); when
    `suppressed`, none was released and every figure is null."""

    suppressed: bool
    withheld_weeks: int  # weeks with shifts of this group that were left out (k)
    shifts: int | None = None
    weeks: int | None = None
    coverage_mean: float | None = None  # share of planned service segments driven
    hours_per_shift: float | None = None  # on duty, start to end
    overtime_h_per_shift: float | None = None  # hours beyond paid_hours
    overtime_share: float | None = None  # share of shifts longer than paid_hours
    km_per_shift: float | None = None
    queue_min_per_shift: float | None = None  # at transfer stations and landfills


class VersionSide(BaseModel):
    version: int
    saved_at: datetime
    note: str | None
    effective_from: date | None
    plan: PlanSize
    performance: VersionPerformance


class Street(BaseModel):
    segment_id: str
    name: str | None


class MovedStreet(Street):
    was: int  # 1-based position in version a's street list
    now: int  # in version b's


class Comparison(BaseModel):
    """Two versions of a route side by side; performance over [start, end) (whole ISO weeks),
    from weeks whose every version part reaches k shifts and k people."""

    route_id: str
    start: date
    end: date
    k_min_shifts: int
    k_min_people: int
    paid_hours: float
    a: VersionSide
    b: VersionSide
    added: list[Street]  # in b, not in a (b's order)
    removed: list[Street]  # in a, not in b
    moved: list[MovedStreet]  # the fewest streets whose move explains b's order


class RouteLoad(BaseModel):
    route_id: str
    name: str
    version: int | None  # the version that applies today
    plan: PlanSize
    performance: VersionPerformance  # the route's shifts in released (route, week) cells


class Workload(BaseModel):
    """Workload per route (never per person) over [start, end), whole ISO weeks, k-suppressed."""

    start: date
    end: date
    k_min_shifts: int
    k_min_people: int
    paid_hours: float
    routes: list[RouteLoad]
    hours_mean: float | None  # mean over routes with released figures of their hours per shift
    hours_spread: float | None  # longest minus shortest of those routes' hours per shift


# --- editing: prediction and optimiser (api/route_plans/edit.py) --------------------------------

# A prediction runs one shortest-path tree per segment end (plan_edit.plan_instance: a dense
# sources × street nodes matrix), so a request's size bounds its memory: 1 000 segments on a
# 20 000-node city is ~2 000 trees, ~0.5 GB with predecessors (routes are done one by one).
# A route has a few hundred.
MAX_EDIT_ROUTES = 12
MAX_PLAN_SEGMENTS = 1_000


class EditedPlan(BaseModel):
    """A route's plan as edited on the page: its service segments in driving order."""

    route_id: PlanId
    segments: list[PlanId] = Field(max_length=MAX_PLAN_SEGMENTS, description="service segment ids, in driving order")
    stops: int = Field(0, ge=0, le=MAX_FEATURES, description="stops on those segments")


class EditedPlans(BaseModel):
    routes: list[EditedPlan] = Field(min_length=1, max_length=MAX_EDIT_ROUTES)

    @model_validator(mode="after")
    def _one_plan_per_route(self) -> EditedPlans:
        seen: set[str] = set()
        for plan in self.routes:
            if plan.route_id in seen:
                raise ValueError(f"route {plan.route_id} is given twice")
            seen.add(plan.route_id)
        return self


class BalanceAsk(EditedPlans):
    tolerance_h: float = Field(0.25, ge=0.0, le=8.0, description="longest minus shortest predicted shift, hours")


class Interval(BaseModel):
    value: float
    lo: float
    hi: float


class Figures(BaseModel):
    """Per shift, mean over the route's released shifts (None: no released history)."""

    shift_h: Interval | None
    driving_km: Interval | None
    deadhead_km: Interval | None
    facility_trips: Interval | None  # capacity-driven (the route's loads from its history)
    facility_h: Interval | None  # on facility trips: at the facility and the modelled detours to it
    overtime_risk: Interval | None  # share of shifts longer than paid hours
    service_km: float  # of the plan
    modelled_deadhead_km: float  # of the plan on the street network (depot → segments → depot)
    segments: int
    stops: int


class RoutePrediction(BaseModel):
    route_id: str
    suppressed: bool  # no released (route, week) cell in the period: only the plan's own figures
    shifts: int  # released shifts the prediction is made from
    today: Figures
    proposed: Figures


class Prediction(BaseModel):
    period_start: str
    period_end: str  # exclusive
    paid_hours: float
    level: float  # of the intervals
    assumptions: list[str]
    routes: list[RoutePrediction]


class ImproveAsk(BaseModel):
    segments: list[PlanId] = Field(min_length=1, max_length=MAX_PLAN_SEGMENTS)
    seconds: float = Field(5.0, ge=0.1, le=10.0, description="the solver's time (decision 0020 measured 5 s)")


class Step(BaseModel):
    segment_id: str
    reverse: bool  # driven from the segment's last vertex to its first
    service: bool  # False: a drive-only connection on the shortest street path


class Proposal(BaseModel):
    route_id: str
    solver: str
    steps: list[Step]
    deadhead_km_before: float
    deadhead_km_after: float


class Move(BaseModel):
    segment_id: str
    from_route: str
    to_route: str


class BalanceProposal(BaseModel):
    basis: Literal["history", "plan model"]
    tolerance_h: float
    moves: list[Move]
