"""Connections to PostgreSQL with errors a user can act on."""

from __future__ import annotations

import socket

import asyncpg

from fleetpilot.errors import ServiceUnavailable
from fleetpilot.settings import Settings
from fleetpilot.urls import check_database_url

CONNECT_TIMEOUT_S = 5.0


def resolve_database_url(settings: Settings, *, start_embedded: bool = True) -> str:
    """The configured URL, or the embedded server's (started on demand) when none is configured."""
    if settings.database_url:
        return check_database_url(settings.database_url)
    if not start_embedded:
        raise ServiceUnavailable("no database URL configured (set FLEETPILOT_DATABASE_URL)")
    from fleetpilot.embedded import embedded_database_url

    return embedded_database_url(settings)


async def connect(url: str, **kwargs) -> asyncpg.Connection:
    """Open one connection, turning network and auth failures into ServiceUnavailable."""
    check_database_url(url)
    try:
        return await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_S, **kwargs)
    except Exception as exc:
        raise _unavailable(url, exc) from None


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 10, **kwargs) -> asyncpg.Pool:
    check_database_url(url)
    try:
        return await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, timeout=CONNECT_TIMEOUT_S, **kwargs)
    except Exception as exc:
        raise _unavailable(url, exc) from None


def _unavailable(url: str, exc: Exception) -> ServiceUnavailable:
    from fleetpilot.urls import redact

    reason = {
        ConnectionRefusedError: "connection refused — is PostgreSQL running there?",
        TimeoutError: f"no answer within {CONNECT_TIMEOUT_S:.0f} s",
        socket.gaierror: "host name not found",
        asyncpg.InvalidCatalogNameError: "database does not exist",
        asyncpg.InvalidPasswordError: "password authentication failed",
        asyncpg.InvalidAuthorizationSpecificationError: "role not allowed to connect",
    }.get(type(exc))
    if reason is None:
        reason = f"{type(exc).__name__}: {exc}"
    return ServiceUnavailable(f"cannot connect to PostgreSQL at {redact(url)}: {reason}")
