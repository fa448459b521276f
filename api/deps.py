"""Annotated dependencies shared by the routers: the connection and one gate per capability."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from fleetpilot.api import policy
from fleetpilot.api.db import get_conn
from fleetpilot.api.policy import Access, Capability

Conn = Annotated[asyncpg.Connection, Depends(get_conn)]
# Documented on every router whose operations pass a non-public gate.
REFUSALS = {
    401: {"description": "not signed in, or the token is invalid, expired or revoked"},
    403: {"description": "this role may not do this"},
}
# Documented on operations with a request body: FastAPI answers 400 when it cannot read it at all.
UNREADABLE_BODY = {400: {"description": "the request body could not be read (e.g. not UTF-8)"}}


def Allowed(capability: Capability):  # noqa: N802 - reads as a type in signatures
    """``access: Allowed(Capability.X)`` — the request admitted by the policy gate for X."""
    return Annotated[Access, Depends(policy.gate(capability))]


DayRange = Annotated[tuple[date, date], Depends(policy.requested_days)]


async def city_zone(request: Request) -> str:
    """The city's IANA time zone (FLEETPILOT_TIMEZONE): days, weeks and times people see.
    (Async so FastAPI does not hand it to a worker thread: the hop cost ~8 % of the API's CPU
    under the crew's reads, py-spy of bench api, 6 Dec.)"""
    return request.app.state.settings.timezone


CityZone = Annotated[str, Depends(city_zone)]
