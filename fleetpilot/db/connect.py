"""Connections to PostgreSQL with errors a user can act on."""

from __future__ import annotations

import logging
import socket
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

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


Service = Literal["api", "ingest", "rollup"]
# The least-privilege roles made by migration 0019 (docs/decisions/0009).
SERVICE_ROLES: dict[Service, str] = {
    "api": "fleetpilot_api",
    "ingest": "fleetpilot_ingest",
    "rollup": "fleetpilot_rollup",
}
log = logging.getLogger("fleetpilot.db")
GRANTED = "SELECT to_regclass('fleetpilot_meta') IS NULL OR has_table_privilege('fleetpilot_meta', 'SELECT')"


def as_role(url: str, role: str) -> str:
    """`url` with `role` as the user and no password (a role's password, if the server asks for
    one, is given with the service's own URL setting)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{role}@{host}"))


async def service_database_url(settings: Settings, service: Service) -> str:
    """The URL a service connects with: FLEETPILOT_<SERVICE>_DATABASE_URL when set, else the
    database URL with the service's least-privilege role as user. Before the first migration
    has made the role (or where the server wants a password for it) the database URL itself
    is used, with a warning; `fleetpilot doctor` warns when that URL is a superuser's."""
    explicit = getattr(settings, f"{service}_database_url")
    if explicit:
        return check_database_url(explicit)
    owner_url = resolve_database_url(settings)
    role_url = as_role(owner_url, SERVICE_ROLES[service])
    try:
        conn = await asyncpg.connect(role_url, timeout=CONNECT_TIMEOUT_S)
    except (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidPasswordError) as exc:
        log.warning(
            "the %s connects with the database URL's own user: role %s cannot log in (%s); "
            "run `fleetpilot migrate`, or set FLEETPILOT_%s_DATABASE_URL",
            service,
            SERVICE_ROLES[service],
            type(exc).__name__,
            service.upper(),
        )
        return owner_url
    except Exception:
        return owner_url  # unreachable: the caller's own connect reports it
    try:
        # Migrated before the roles existed (or by another cluster's migration): no grants yet.
        granted = await conn.fetchval(GRANTED)
    finally:
        await conn.close()
    if not granted:
        log.warning("the %s connects with the database URL's own user: run `fleetpilot migrate`", service)
        return owner_url
    return role_url


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
