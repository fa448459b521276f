"""Public endpoints: health, transparency (JSON and HTML), the root redirect."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

import fleetpilot
from fleetpilot.api import policy
from fleetpilot.api.db import get_conn
from fleetpilot.api.policy import Access, Capability
from fleetpilot.api.public import page, service
from fleetpilot.api.public.schemas import HealthOut, TransparencyOut

router = APIRouter(tags=["public"])
Public = Annotated[Access, Depends(policy.gate(Capability.PUBLIC))]
Conn = Annotated[asyncpg.Connection, Depends(get_conn)]


@router.get("/", include_in_schema=False)
async def root(_: Public, request: Request) -> RedirectResponse:
    has_dashboards = any(getattr(r, "name", None) == "dashboards" for r in request.app.routes)
    return RedirectResponse("/app/" if has_dashboards else "/docs")


@router.get("/health", response_model=HealthOut, responses={503: {"description": "the database cannot be reached"}})
async def health(_: Public, conn: Conn) -> HealthOut:
    """Service and database state, including the storage mode (native or timescale)."""
    return HealthOut(status="ok", version=fleetpilot.__version__, database=await service.health(conn))


@router.get("/api/v1/transparency", response_model=TransparencyOut)
async def transparency_json(_: Public, conn: Conn) -> TransparencyOut:
    """What is collected, who sees what and for how long, from the live settings."""
    return await service.transparency(conn)


@router.get("/transparency", response_class=HTMLResponse)
async def transparency_page(_: Public, conn: Conn) -> HTMLResponse:
    """The transparency page for crews and the public."""
    return HTMLResponse(page.render(await service.transparency(conn)))
