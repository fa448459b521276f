"""/routes: route plans with versions, GeoJSON import and export."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from fastapi.exceptions import RequestValidationError

from fleetpilot.api import policy
from fleetpilot.api.deps import REFUSALS, UNREADABLE_BODY, Allowed, CityZone, Conn, DayRange
from fleetpilot.api.errors import UnknownRoute, invalid
from fleetpilot.api.geojson import FeatureCollection
from fleetpilot.api.policy import Capability
from fleetpilot.api.route_plans import edit, performance, service
from fleetpilot.api.route_plans.schemas import (
    BalanceAsk,
    BalanceProposal,
    Comparison,
    EditedPlans,
    Imported,
    ImproveAsk,
    PlanCollection,
    Prediction,
    Proposal,
    RouteChange,
    RouteDetail,
    RouteOut,
    Workload,
)
from fleetpilot.api.whatif import service as whatif
from fleetpilot.api.whatif.schemas import AskIn, ResultOut

router = APIRouter(prefix="/routes", tags=["route plans"], responses=REFUSALS)
Read = Allowed(Capability.ROUTE_PLANS_READ)
Write = Allowed(Capability.ROUTE_PLANS_WRITE)
# Predictions and how plans worked out are route aggregates of history (released cells, decision 0004).
Figures = Allowed(Capability.EFFICIENCY)
Version = Annotated[int, Query(ge=1, le=1_000_000)]
RouteId = Annotated[str, Path(max_length=64)]
UNKNOWN = {404: {"description": "no such route (or version)"}}


def _not_found(exc: UnknownRoute) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no such route: {exc}")


SAVE_REFUSED = {
    422: {
        "description": "a feature belongs to another route, the plan is malformed, or it would apply "
        "from a day that has begun"
    }
}


def _save_refused(exc: service.EffectiveInThePast) -> RequestValidationError:
    return invalid(("body", "effective_from"), str(exc), None)


@router.get("", response_model=list[RouteOut])
async def list_routes(_: Read, conn: Conn, tz: CityZone) -> list[RouteOut]:
    return await service.routes(conn, tz)


@router.get("/plans.geojson", response_model=FeatureCollection)
async def export_all(_: Read, conn: Conn) -> Response:
    """Every route's current plan in the routes.geojson format."""
    return _geojson(await service.plan_geojson(conn))


def _geojson(plan: dict) -> Response:
    """The plan as built (a FeatureCollection by construction), serialised once: validating
    its ~160 features against the response model cost most of the request's 8.5 ms of server
    CPU (bench api, route_plan_geojson, 6 Dec)."""
    return Response(orjson.dumps(plan), media_type="application/json")


@router.get("/workload", response_model=Workload)
async def workload(access: Figures, conn: Conn, tz: CityZone, days: DayRange) -> Workload:
    """Workload balance between routes, never per person: each active route's planned stops and
    streets (the version that applies today) beside its shifts' length, overtime, queue time and
    coverage in [from, to) (whole ISO weeks; weeks under k are left out and counted)."""
    scope = await policy.aggregate_scope(conn, access, days)
    return await performance.workload(conn, scope, tz)


@router.post(
    "/workload/rebalance",
    response_model=ResultOut,
    responses={**UNREADABLE_BODY, 422: {"description": "bad parameters, or no released shifts in the period"}},
)
async def rebalance(access: Figures, conn: Conn, tz: CityZone, days: DayRange, body: AskIn) -> ResultOut:
    # Not merged with POST /routes/balance: this replays the whole city's saved plans on history (intervals,
    # the stored what-if answer a data officer shares); that one moves the editor's unsaved plans. Same plan_moves.
    """The what-if engine's rebalance scenario (analytics/whatif/rebalance.py) for the plans page:
    service segments handed between touching routes to even out hours per shift, replayed on the
    shifts of [from, to) in released cells, with intervals. The same computation and stored
    answer a data officer gets from POST /whatif/scenarios/rebalance; nothing is saved to the plans."""
    try:
        return whatif.result_out(
            await whatif.answer_in_scope(conn, access, "scenario", "rebalance", body.params, days, tz)
        )
    except whatif.WhatIfError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


@router.post("/plans", response_model=Imported, responses={**UNREADABLE_BODY, **SAVE_REFUSED})
async def import_plans(access: Write, conn: Conn, tz: CityZone, body: PlanCollection) -> Imported:
    """Import or save plans of one or more routes (e.g. a segment moved between two routes).
    A route whose plan changed gets a new version, applying from `effective_from` (the city's
    local day, default today); unchanged routes keep theirs."""
    try:
        return await service.import_plans(conn, access.principal, body, tz)
    except service.EffectiveInThePast as exc:
        raise _save_refused(exc) from None


EDIT_ANSWERS = {**UNKNOWN, **UNREADABLE_BODY, 422: {"description": "an unknown segment, or a malformed plan"}}


@router.post("/predict", response_model=Prediction, responses=EDIT_ANSWERS)
async def predict(access: Figures, conn: Conn, days: DayRange, body: EditedPlans) -> Prediction:
    """Each route's shift length, driving and deadhead km, facility trips and overtime risk per
    shift with its edited plan, beside today's, from the route's released shifts in [from, to)
    (whole ISO weeks). Nothing is saved."""
    scope = await policy.aggregate_scope(conn, access, days)
    try:
        return await edit.predict(conn, scope, body)
    except UnknownRoute as exc:
        raise _not_found(exc) from None


@router.post("/balance", response_model=BalanceProposal, responses=EDIT_ANSWERS)
async def balance(access: Figures, conn: Conn, days: DayRange, body: BalanceAsk) -> BalanceProposal:
    """Moves of service segments between the given routes (to a route touching the segment) that
    even out their predicted shift lengths to within the tolerance. Nothing is saved."""
    scope = await policy.aggregate_scope(conn, access, days)
    try:
        return await edit.balance(conn, scope, body)
    except UnknownRoute as exc:
        raise _not_found(exc) from None


@router.post("/{route_id}/improve", response_model=Proposal, responses=EDIT_ANSWERS)
async def improve(_: Read, conn: Conn, route_id: RouteId, body: ImproveAsk) -> Proposal:
    """A better driving order of the given service segments (one-way streets forwards), with
    the drive-only connections between them. Nothing is saved."""
    try:
        return await edit.improve(conn, route_id, body)
    except UnknownRoute as exc:
        raise _not_found(exc) from None


@router.get("/{route_id}", response_model=RouteDetail, responses=UNKNOWN)
async def route(access: Read, conn: Conn, tz: CityZone, route_id: RouteId) -> RouteDetail:
    """A route with its version history; each version's shifts counted in released weeks only."""
    try:
        return await service.route_detail(conn, route_id, tz, await policy.live_k(conn, access))
    except UnknownRoute as exc:
        raise _not_found(exc) from None


@router.get("/{route_id}/compare", response_model=Comparison, responses=UNKNOWN)
async def compare(access: Figures, conn: Conn, route_id: RouteId, a: Version, b: Version, days: DayRange) -> Comparison:
    """Versions `a` and `b` of a route side by side: their plans' figures, the streets added,
    removed and moved from a to b, and how the shifts that drove each worked out in [from, to)
    (coverage, shift length, overtime, queue time), from weeks released by the k rule only."""
    scope = await policy.aggregate_scope(conn, access, days)
    try:
        return await performance.compare(conn, scope, route_id, a, b)
    except UnknownRoute as exc:
        raise _not_found(exc) from None


@router.get("/{route_id}/plan.geojson", response_model=FeatureCollection, responses=UNKNOWN)
async def export_plan(
    _: Read, conn: Conn, route_id: RouteId, version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None
) -> Response:
    """One route's plan (current version unless `version` is given) as GeoJSON."""
    try:
        return Response(await service.PLAN_TEXTS.text(conn, route_id, version), media_type="application/json")
    except UnknownRoute as exc:
        raise _not_found(exc) from None


@router.put(
    "/{route_id}/plan",
    response_model=Imported,
    responses={**UNREADABLE_BODY, **SAVE_REFUSED},
)
async def replace_plan(access: Write, conn: Conn, tz: CityZone, route_id: RouteId, body: PlanCollection) -> Imported:
    """Save this route's plan (creating the route if new); a changed plan becomes a new version."""
    others = {f.properties.route_id for f in body.features} - {route_id}
    if others:
        raise invalid(
            ("body", "features"), f"features of other routes in this plan: {', '.join(sorted(others))}", sorted(others)
        )
    try:
        return await service.import_plans(conn, access.principal, body, tz)
    except service.EffectiveInThePast as exc:
        raise _save_refused(exc) from None


@router.patch("/{route_id}", response_model=RouteOut, responses={**UNKNOWN, **UNREADABLE_BODY})
async def change_route(access: Write, conn: Conn, tz: CityZone, route_id: RouteId, body: RouteChange) -> RouteOut:
    """Rename a route or (de)activate it."""
    try:
        return await service.change_route(conn, access.principal, route_id, body, tz)
    except UnknownRoute as exc:
        raise _not_found(exc) from None


@router.delete("/{route_id}", response_model=RouteOut, responses=UNKNOWN)
async def retire_route(access: Write, conn: Conn, tz: CityZone, route_id: RouteId) -> RouteOut:
    """Retire a route: it stays (shifts refer to its versions) but is no longer active."""
    try:
        return await service.change_route(conn, access.principal, route_id, RouteChange(active=False), tz)
    except UnknownRoute as exc:
        raise _not_found(exc) from None
