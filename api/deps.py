"""Annotated dependencies shared by the routers: the connection and one gate per capability."""
from __future__ import annotations

from datetime import date
from typing import Annotated

import asyncpg
from fastapi import Depends

from fleetpilot.api import policy
from fleetpilot.api.db import get_conn
from fleetpilot.api.policy import Access, Capability

Conn = Annotated[asyncpg.Connection, Depends(get_conn)]


def Allowed(capability: Capability):  # noqa: N802 - reads as a type in signatures
    """``access: Allowed(Capability.X)`` — the request admitted by the policy gate for X."""
    return Annotated[Access, Depends(policy.gate(capability))]


DayRange = Annotated[tuple[date, date], Depends(policy.day_range)]
