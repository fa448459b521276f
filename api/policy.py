"""The one place that decides every data access of the API.

Routers never decide who may see what. Each path operation declares the capability it
needs with ``Depends(policy.gate(Capability.X))``; the gate authenticates the bearer
token, loads the user from the database (so a disabled account or a changed role takes
effect at once) and admits or refuses the request. Data is then reached only through the
scopes this module hands out, which the service functions require as arguments:

- ``own_person`` — a driver's own person id (never taken from a request parameter);
- ``own_shift`` / ``shift_for_purpose`` — one shift, either the driver's own (crew
  membership) or opened by a supervisor/admin with a stated purpose, which is written to
  the append-only audit log for every crew member (they see it in their access log);
- ``aggregate_scope`` — the k-anonymity thresholds, read live from privacy_settings, and
  a bounded day range widened to whole ISO weeks; aggregate SQL suppresses every group
  with fewer distinct shifts or people than k;
- ``live_scope`` — positions of vehicles inside an on-duty shift only, and only recent.

Status codes: 401 without a valid token, 403 for a role without the capability, 404 for
a shift that is not the caller's (so existence is not revealed), 422 for a missing
purpose or an invalid range.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from typing import Annotated, Literal

import asyncpg
from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import OAuth2PasswordBearer

from fleetpilot import localtime, release_blocks
from fleetpilot.api.auth.tokens import InvalidToken, TokenKeys, decode_access_token
from fleetpilot.api.db import get_conn
from fleetpilot.api.errors import invalid
from fleetpilot.settings import get_settings

Role = Literal["driver", "supervisor", "data_officer", "admin"]
ROLES: tuple[Role, ...] = ("driver", "supervisor", "data_officer", "admin")
ANONYMOUS = "anonymous"

TOKEN_URL = "/api/v1/auth/token"
bearer = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


class Capability(str, Enum):
    """What a path operation does with data; RULES says which roles may do it."""

    PUBLIC = "public"  # health, transparency, docs
    SIGNED_IN = "signed_in"  # own account: who am I, log out
    OWN_DATA = "own_data"  # a driver's own shifts, trends, access log, export
    SHIFT_LOOKUP = "shift_lookup"  # which shift a vehicle drove at a time (no people)
    SHIFT_FOR_PURPOSE = "shift_for_purpose"  # open one shift of someone else, audited
    ROUTE_PLANS_READ = "route_plans_read"
    ROUTE_PLANS_WRITE = "route_plans_write"
    EFFICIENCY = "efficiency"  # route-level aggregates over time, k-suppressed
    LIVE = "live"  # on-duty vehicles' latest positions
    HOTSPOTS = "hotspots"  # exposure-normalised cell/segment aggregates, k-suppressed
    EXPORTS = "exports"  # k-respecting aggregate downloads
    HAZARDS = "hazards"  # the city's hazard list: places and categories, reporters never, k on counts
    HAZARDS_WRITE = "hazards_write"  # move a hazard along reported -> acknowledged -> fix planned -> fixed
    HAZARDS_FIXED = "hazards_fixed"  # the fixed hazards and their before/after (released cells): every role
    WHATIF = "whatif"  # scenarios and questions over history, k-anonymous answers
    GOALS = "goals"  # the pilot's goals and scorecard: fleet-wide, k-released, every role
    GOALS_WRITE = "goals_write"  # define or change a goal (versioned, audited)
    ADMIN = "admin"  # users, devices, privacy settings, retention, identities
    DEVICE_INGEST = "device_ingest"  # a registered tracker's or Traccar server's token: no person's role


RULES: dict[Capability, frozenset[str]] = {
    Capability.PUBLIC: frozenset({ANONYMOUS, *ROLES}),
    Capability.SIGNED_IN: frozenset(ROLES),
    Capability.OWN_DATA: frozenset({"driver"}),
    Capability.SHIFT_LOOKUP: frozenset({"supervisor", "admin"}),
    Capability.SHIFT_FOR_PURPOSE: frozenset({"supervisor", "admin"}),
    Capability.ROUTE_PLANS_READ: frozenset({"supervisor", "data_officer"}),
    Capability.ROUTE_PLANS_WRITE: frozenset({"supervisor"}),
    Capability.EFFICIENCY: frozenset({"supervisor", "data_officer"}),
    Capability.LIVE: frozenset({"supervisor"}),
    Capability.HOTSPOTS: frozenset({"supervisor", "data_officer"}),
    Capability.EXPORTS: frozenset({"data_officer"}),
    Capability.WHATIF: frozenset({"data_officer"}),
    # About the city and its routes, never a person: crews read their pilot's scorecard too.
    Capability.GOALS: frozenset(ROLES),
    Capability.GOALS_WRITE: frozenset({"data_officer", "admin"}),
    Capability.HAZARDS: frozenset({"supervisor", "data_officer"}),
    Capability.HAZARDS_WRITE: frozenset({"supervisor"}),
    # What the city fixed and whether braking fell there: about places, never a person.
    Capability.HAZARDS_FIXED: frozenset(ROLES),
    Capability.ADMIN: frozenset({"admin"}),
    Capability.DEVICE_INGEST: frozenset(),  # people's tokens never open a device door
}

# A purpose must say something ("incident 2024-113"), not just be present.
PURPOSE_MIN_CHARS = 8
PURPOSE_MIN_LETTERS = 5
PURPOSE_MAX_CHARS = 200
# Aggregates are asked for whole local days of the city (fleetpilot.localtime) over at most this span.
MAX_RANGE_DAYS = 400
DEFAULT_RANGE_DAYS = 30
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2100, 1, 1)
# A live position older than this is not shown (the truck may have left duty meanwhile).
LIVE_MAX_AGE_S = 300


@dataclass(frozen=True)
class Principal:
    """The signed-in user as stored now (role and person from the database, not the token)."""

    user_id: int
    username: str
    role: Role
    person_id: str | None
    must_change_password: bool = False


@dataclass(frozen=True)
class Access:
    """A request admitted for one capability; anonymous only for PUBLIC. `k` holds the live
    (k_min_shifts, k_min_people) read together with the user, None if not seeded."""

    capability: Capability
    principal: Principal | None
    k: tuple[int, int] | None = None


# The user, whether this token was revoked, and the live k thresholds: one round trip per request.
LOAD_PRINCIPAL = """
SELECT u.user_id, u.username, u.role, u.person_id, u.disabled, u.token_version, u.must_change_password,
       EXISTS (SELECT 1 FROM token_revocations r WHERE r.jti = $2) AS revoked,
       ps.k_min_shifts, ps.k_min_people
FROM users u LEFT JOIN privacy_settings ps ON true
WHERE u.user_id = $1
"""


PASSWORD_CHANGE_REQUIRED = (
    "your password was set by an administrator: choose a new one first (POST /api/v1/auth/password)"
)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


class Gate:
    """FastAPI dependency admitting a request for one capability (see RULES)."""

    def __init__(self, capability: Capability) -> None:
        self.capability = capability

    def __repr__(self) -> str:
        return f"Gate({self.capability.value})"

    async def __call__(
        self,
        request: Request,
        request_token: Annotated[str | None, Depends(bearer)],
        conn: Annotated[asyncpg.Connection, Depends(get_conn)],
    ) -> Access:
        if request_token is None:
            raise _unauthorized("not signed in")
        principal, k = await load_principal(conn, request.app.state.token_keys, request_token)
        if principal.role not in RULES[self.capability]:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"the {principal.role} role may not do this")
        # A password set by an admin is known to the admin: until its owner replaces it, the
        # account reaches no data (only who-am-I, sign-out and the password change).
        if principal.must_change_password and self.capability is not Capability.SIGNED_IN:
            raise HTTPException(status.HTTP_403_FORBIDDEN, PASSWORD_CHANGE_REQUIRED)
        return Access(self.capability, principal, k)


class PublicGate(Gate):
    """The gate of public pages: ignores credentials, so a stale token cannot break them,
    and declares no security requirement in the OpenAPI document."""

    def __init__(self) -> None:
        super().__init__(Capability.PUBLIC)

    async def __call__(self) -> Access:  # type: ignore[override]
        return Access(self.capability, None)


class DeviceGate(Gate):
    """The gate of the device doors (HTTP ingest): a credential must be present; the route
    resolves it against the hashed device and Traccar-server tokens (401 for anything else,
    a person's token included), so no role of RULES opens it."""

    def __init__(self) -> None:
        super().__init__(Capability.DEVICE_INGEST)

    async def __call__(self, request: Request) -> Access:  # type: ignore[override]
        scheme = request.headers.get("authorization", "").partition(" ")[0].lower()
        if scheme not in ("bearer", "basic"):
            raise _unauthorized("a device token is needed")
        return Access(self.capability, None)


_NOT_ROLE_GATES = (Capability.PUBLIC, Capability.DEVICE_INGEST)
_GATES: dict[Capability, Gate] = {c: Gate(c) for c in Capability if c not in _NOT_ROLE_GATES}
_GATES[Capability.PUBLIC] = PublicGate()
_GATES[Capability.DEVICE_INGEST] = DeviceGate()


def gate(capability: Capability) -> Gate:
    """The (shared) gate instance for a capability, for ``Depends``."""
    return _GATES[capability]


async def load_principal(
    conn: asyncpg.Connection, keys: TokenKeys, token: str
) -> tuple[Principal, tuple[int, int] | None]:
    """Verify a bearer token; its user and the live k thresholds. 401 for anything not exactly right."""
    try:
        claims = decode_access_token(token, keys)
    except InvalidToken as exc:
        raise _unauthorized(str(exc)) from None
    row = await conn.fetchrow(LOAD_PRINCIPAL, claims.user_id, claims.jti)
    if row is None or row["disabled"]:
        raise _unauthorized("account not active")
    if row["revoked"]:
        raise _unauthorized("token revoked (signed out)")
    if row["token_version"] != claims.version:
        raise _unauthorized("password, role or account changed since sign-in; sign in again")
    if row["role"] != claims.role:
        raise _unauthorized("role changed since sign-in; sign in again")
    k = None if row["k_min_shifts"] is None else (row["k_min_shifts"], row["k_min_people"])
    principal = Principal(row["user_id"], row["username"], row["role"], row["person_id"], row["must_change_password"])
    return principal, k


# --- the driver's own data ---------------------------------------------------------------


@dataclass(frozen=True)
class OwnPerson:
    """Proof that the caller is this person (a driver); the only key to 'my' data."""

    person_id: str
    principal: Principal


def own_person(access: Access) -> OwnPerson:
    if access.capability is not Capability.OWN_DATA or access.principal is None or not access.principal.person_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only a crew member has own data")
    return OwnPerson(access.principal.person_id, access.principal)


@dataclass(frozen=True)
class ShiftGrant:
    """One shift the caller may read, with the window that bounds any raw-data read."""

    shift_id: str
    vehicle_id: str
    route_id: str | None
    route_version: int | None
    starts_at: datetime
    ends_at: datetime
    purpose: str | None  # set when opened by someone other than the crew member


OWN_SHIFT = """
SELECT s.shift_id, s.vehicle_id, s.route_id, s.route_version, s.starts_at, s.ends_at
FROM shifts s JOIN shift_crew c ON c.shift_id = s.shift_id
WHERE s.shift_id = $1 AND c.person_id = $2
"""
ANY_SHIFT = """
SELECT s.shift_id, s.vehicle_id, s.route_id, s.route_version, s.starts_at, s.ends_at,
       coalesce(array_agg(c.person_id ORDER BY c.person_id) FILTER (WHERE c.person_id IS NOT NULL), '{}') AS crew
FROM shifts s LEFT JOIN shift_crew c ON c.shift_id = s.shift_id
WHERE s.shift_id = $1
GROUP BY s.shift_id
"""
INSERT_AUDIT = """
INSERT INTO audit_log (actor_user_id, actor_role, action, subject_person_id, shift_id, purpose, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb)
"""


# A driver's own shift, as a condition on `shifts s` with the person id as $3, for a service
# query that reads the shift in the same round trip (see shifts.service.own_shift_detail).
OWN_SHIFT_CONDITION = "EXISTS (SELECT 1 FROM shift_crew c WHERE c.shift_id = s.shift_id AND c.person_id = $3)"


def no_such_shift() -> HTTPException:
    """A shift that does not exist or is not the caller's (existence is not revealed)."""
    return HTTPException(status.HTTP_404_NOT_FOUND, "no such shift")


async def own_shift(conn: asyncpg.Connection, me: OwnPerson, shift_id: str) -> ShiftGrant:
    """A shift the driver crewed; any other shift id is 'not found', never 'forbidden'."""
    row = await conn.fetchrow(OWN_SHIFT, shift_id, me.person_id)
    if row is None:
        raise no_such_shift()
    return ShiftGrant(**dict(row), purpose=None)


OWN_SHIFTS = """
SELECT s.shift_id, s.vehicle_id, s.route_id, s.route_version, s.starts_at, s.ends_at
FROM shifts s JOIN shift_crew c ON c.shift_id = s.shift_id
WHERE c.person_id = $1
ORDER BY s.starts_at
"""


async def own_shifts(conn: asyncpg.Connection, me: OwnPerson) -> list[ShiftGrant]:
    """Every shift the driver crewed (for the export of all their data)."""
    return [ShiftGrant(**dict(r), purpose=None) for r in await conn.fetch(OWN_SHIFTS, me.person_id)]


def check_purpose(purpose: str) -> str:
    """The purpose as recorded: NFKC-normalised (look-alike and full-width forms folded), no
    format or control characters (zero-width spaces, direction overrides), and words: at
    least PURPOSE_MIN_LETTERS letters among at least PURPOSE_MIN_CHARS characters."""
    example = "e.g. 'incident 2024-113'"
    normalised = unicodedata.normalize("NFKC", purpose)
    if any(unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs", "Cn") and not c.isspace() for c in normalised):
        raise invalid(("body", "purpose"), f"the purpose may not contain invisible or control characters ({example})")
    cleaned = " ".join(normalised.split())
    letters = sum(c.isalpha() for c in cleaned)
    if len(cleaned) < PURPOSE_MIN_CHARS or letters < PURPOSE_MIN_LETTERS:
        raise invalid(
            ("body", "purpose"),
            f"state the purpose of this access in words (at least {PURPOSE_MIN_CHARS} characters of which "
            f"{PURPOSE_MIN_LETTERS} letters, {example})",
            purpose,
        )
    return cleaned[:PURPOSE_MAX_CHARS]


async def shift_for_purpose(conn: asyncpg.Connection, access: Access, shift_id: str, purpose: str) -> ShiftGrant:
    """Open someone else's shift for a stated purpose; audited once per crew member.

    The audit rows are written in the same transaction as the lookup, before any data is
    read, so a read without its audit record cannot happen.
    """
    if access.capability is not Capability.SHIFT_FOR_PURPOSE or access.principal is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "individual access needs the shift_for_purpose capability")
    cleaned = check_purpose(purpose)
    row = await conn.fetchrow(ANY_SHIFT, shift_id)
    if row is None:
        raise no_such_shift()
    async with conn.transaction():
        for person_id in row["crew"] or [None]:
            await audit(
                conn,
                access.principal,
                "open_shift",
                subject_person_id=person_id,
                shift_id=shift_id,
                purpose=cleaned,
                detail={"vehicle_id": row["vehicle_id"]},
            )
    data = dict(row)
    del data["crew"]
    return ShiftGrant(**data, purpose=cleaned)


async def audit(
    conn: asyncpg.Connection,
    actor: Principal,
    action: str,
    *,
    subject_person_id: str | None = None,
    shift_id: str | None = None,
    purpose: str | None = None,
    detail: dict | None = None,
) -> None:
    """Append one row to the audit log (individual access or administrative change)."""
    await conn.execute(
        INSERT_AUDIT,
        actor.user_id,
        actor.role,
        action,
        subject_person_id,
        shift_id,
        purpose,
        json.dumps(detail or {}, default=str),
    )


# --- aggregates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AggregateScope:
    """Aggregates over [start, end) local days of the city — whole ISO weeks, Monday to Monday — suppressing
    groups below k shifts or k people."""

    start: date
    end: date
    k_shifts: int
    k_people: int


PRIVACY_SETTINGS = """
SELECT retention_days, deadletter_days, skew_hold_hours, k_min_shifts, k_min_people, zone_policy, updated_at, updated_by
FROM privacy_settings
"""


async def privacy_settings(conn: asyncpg.Connection) -> asyncpg.Record:
    """The live privacy settings row (retention, k, zone policy); 503 if never seeded."""
    row = await conn.fetchrow(PRIVACY_SETTINGS)
    if row is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "privacy settings missing; run `fleetpilot migrate`")
    return row


async def requested_days(
    request: Request,
    start: Annotated[
        date | None, Query(alias="from", description="first day, the city's local day (default: 30 days before `to`)")
    ] = None,
    end: Annotated[
        date | None, Query(alias="to", description="local day after the last one (default: the city's tomorrow)")
    ] = None,
) -> tuple[date, date]:
    """The request's day range in the city's zone (the app's settings), checked (see
    checked_range). (Async so FastAPI does not hand it to a worker thread.)"""
    return checked_range(start, end, request.app.state.settings.timezone)


async def day_range(start: date | None = None, end: date | None = None) -> tuple[date, date]:
    """A day range checked outside a request (commands, the GIS doors): the configured city zone."""
    return checked_range(start, end, get_settings().timezone)


def checked_range(start: date | None, end: date | None, tz: str) -> tuple[date, date]:
    """[start, end) local days, checked: within the pilot's calendar, start before end, at most
    MAX_RANGE_DAYS long; `end` defaults to the city's tomorrow."""
    for name, day in (("from", start), ("to", end)):
        if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
            raise invalid(("query", name), f"days lie between {EARLIEST_DAY} and {LATEST_DAY}", str(day))
    end = end or localtime.today(tz) + timedelta(days=1)
    start = start or end - timedelta(days=DEFAULT_RANGE_DAYS)
    if start >= end:
        raise invalid(("query", "from"), "`from` must be before `to`", str(start))
    if (end - start).days > MAX_RANGE_DAYS:
        raise invalid(("query", "from"), f"ranges are limited to {MAX_RANGE_DAYS} days", str(start))
    return start, end


def whole_weeks(days: tuple[date, date]) -> tuple[date, date]:
    """[start, end) widened to whole ISO weeks. Aggregates are released per (unit, week)
    cell, and a range that cut a week would form a different, partial cell: two ranges
    differing by a day would then reveal that day by subtraction (docs/decisions/0004)."""
    start, end = days
    return start - timedelta(days=start.weekday()), end + timedelta(days=-end.weekday() % 7)


async def aggregate_scope(conn: asyncpg.Connection, access: Access, days: tuple[date, date]) -> AggregateScope:
    """The range (as whole weeks) and the thresholds read live (the admin may change k at any
    time; the gate read them with the user in this request) for an aggregate capability."""
    aggregates = (Capability.EFFICIENCY, Capability.HOTSPOTS, Capability.EXPORTS, Capability.WHATIF, Capability.GOALS)
    if access.capability not in aggregates:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "aggregates need an aggregate capability")
    # Every aggregate, what-if answers included, is over whole weeks (decision 0004).
    start, end = whole_weeks(days)
    if access.k is None:
        row = await privacy_settings(conn)  # answers 503: never seeded
        return AggregateScope(start, end, row["k_min_shifts"], row["k_min_people"])
    return AggregateScope(start, end, *access.k)


async def live_k(conn: asyncpg.Connection, access: Access) -> tuple[int, int]:
    """(k_min_shifts, k_min_people) as set now (read with the user by the gate)."""
    if access.k is not None:
        return access.k
    row = await privacy_settings(conn)
    return row["k_min_shifts"], row["k_min_people"]


def released_cell(shift: str, k_shifts: str, k_people: str) -> str:
    """Decision 0004's release test of one (unit, city ISO week) block (fleetpilot.release_blocks:
    the block, its test and the people it counts, shared with the hotspots' rollup blocks) for
    every door that reads per-shift rows (efficiency and coverage, the 311 tally, what-if, the
    goals): used as an aggregate in `GROUP BY unit, week` over rows with one shift each (`shift`
    their shift id column), true when the block holds >= `k_shifts` shifts driven by >=
    `k_people` distinct drivers (decision 0009)."""
    return release_blocks.released_sql(
        f"count(DISTINCT {shift})", release_blocks.drivers_sql(f"array_agg({shift})"), k_shifts, k_people
    )


# The (unit, ISO week) cells of decision 0004 for shift-level answers (what-if, the goals'
# scorecard): the unit is the route (a shift without one: its vehicle), the week the city's ISO
# week of the local day the shift starts on ($5 the zone; fleetpilot.localtime's rule, as
# shift_metrics.day), so a cell is the same (route, week) the efficiency answers release or
# withhold; released_cell judges it. $1, $2: the range's local midnights as instants. Every
# shift of the range comes back with its cell's verdict.
RELEASED_SHIFTS = f"""
WITH cells AS (
    SELECT s.shift_id, coalesce(s.route_id, 'vehicle:' || s.vehicle_id) AS unit,
           date_trunc('week', (s.starts_at AT TIME ZONE $5)::date) AS week
    FROM shifts s
    WHERE s.starts_at >= $1 AND s.starts_at < $2
), judged AS (
    SELECT c.unit, c.week, {released_cell("c.shift_id", "$3", "$4")} AS released
    FROM cells c
    GROUP BY c.unit, c.week
)
SELECT c.shift_id, c.unit, c.week, j.released FROM cells c JOIN judged j USING (unit, week)
"""


@dataclass(frozen=True)
class Release:
    """The shifts of released cells in a scope, and how many cells were withheld (of all)."""

    shifts: frozenset[str]
    withheld_shifts: frozenset[str]
    cells: int
    withheld_cells: int


async def release(conn: asyncpg.Connection, scope: AggregateScope, tz: str) -> Release:
    """Every shift of the scope judged by its (unit, week) cell, weeks of the city's zone `tz`:
    answers are computed from the released ones only, so no answer, sum or difference of
    answers contains a withheld cell."""
    lo, hi = localtime.day_bounds(scope.start, scope.end, tz)
    rows = await conn.fetch(RELEASED_SHIFTS, lo, hi, scope.k_shifts, scope.k_people, tz)
    cells = {(r["unit"], r["week"]): r["released"] for r in rows}
    return Release(
        shifts=frozenset(r["shift_id"] for r in rows if r["released"]),
        withheld_shifts=frozenset(r["shift_id"] for r in rows if not r["released"]),
        cells=len(cells),
        withheld_cells=sum(not released for released in cells.values()),
    )


async def released_shifts(conn: asyncpg.Connection, scope: AggregateScope, tz: str) -> frozenset[str]:
    """The shifts of released (unit, week) cells in the scope (see release)."""
    return (await release(conn, scope, tz)).shifts


# --- live positions ------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveScope:
    """Latest positions of vehicles inside an on-duty shift at `as_of`, no older than max_age_s."""

    as_of: datetime
    max_age_s: int


def live_scope(access: Access) -> LiveScope:
    if access.capability is not Capability.LIVE:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "live positions need the live capability")
    return LiveScope(datetime.now(timezone.utc), LIVE_MAX_AGE_S)


# --- layers for GIS clients: the same tokens, or a read-only API key ------------------------

# A read-only key an admin issued (api/api_keys): it is sent as a bearer token or in X-API-Key.
API_KEY_PREFIX = "fpk_"
# What a key may read: the k-anonymous aggregate layers and the city's plans and facilities —
# never anything about one person, and nothing that writes.
KEY_CAPABILITIES = frozenset(
    {Capability.EFFICIENCY, Capability.HOTSPOTS, Capability.ROUTE_PLANS_READ, Capability.SIGNED_IN}
)
# The key (if not revoked) and the live k thresholds, one round trip; last use kept for the admin.
LOAD_API_KEY = """
WITH used AS (
    UPDATE api_keys SET last_used_at = now()
    WHERE key_hash = $1 AND revoked_at IS NULL
      AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
)
SELECT k.key_id, k.revoked_at, ps.k_min_shifts, ps.k_min_people
FROM api_keys k LEFT JOIN privacy_settings ps ON true
WHERE k.key_hash = $1
"""


def api_key_hash(key: str) -> str:
    """How a key is stored: SHA-256 hex (keys are 32 random bytes; see migration 0012)."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Reader:
    """Who reads a layer: a signed-in user, or a read-only API key (principal None)."""

    principal: Principal | None
    key_id: int | None
    k: tuple[int, int] | None

    def may(self, capability: Capability) -> bool:
        if self.principal is None:
            return capability in KEY_CAPABILITIES
        return self.principal.role in RULES[capability]

    def access(self, capability: Capability) -> Access:
        """The request admitted for `capability`, as a gate would admit it; 403 otherwise."""
        if not self.may(capability):
            who = "an API key" if self.principal is None else f"the {self.principal.role} role"
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"{who} may not read this layer")
        return Access(capability, self.principal, self.k)


class ReaderGate(Gate):
    """The gate of the GIS layers: a bearer token of any role (checked as every gate checks
    it) or a read-only API key, in `Authorization: Bearer fpk_…` or `X-API-Key`. Which layers
    the reader then sees is `Reader.access`'s decision, per layer, with the rules above."""

    def __init__(self) -> None:
        super().__init__(Capability.SIGNED_IN)

    def __repr__(self) -> str:
        return "ReaderGate(signed_in or api key)"

    async def __call__(  # type: ignore[override]
        self,
        request: Request,
        request_token: Annotated[str | None, Depends(bearer)],
        conn: Annotated[asyncpg.Connection, Depends(get_conn)],
    ) -> Reader:
        key = request.headers.get("x-api-key")
        if key is None and request_token is not None and request_token.startswith(API_KEY_PREFIX):
            key = request_token
        if key is not None:
            row = await conn.fetchrow(LOAD_API_KEY, api_key_hash(key))
            if row is None or row["revoked_at"] is not None:
                raise _unauthorized("unknown or revoked API key")
            k = None if row["k_min_shifts"] is None else (row["k_min_shifts"], row["k_min_people"])
            return Reader(None, row["key_id"], k)
        if request_token is None:
            raise _unauthorized("not signed in (send a bearer token or an API key)")
        principal, k = await load_principal(conn, request.app.state.token_keys, request_token)
        # As Gate: an account whose password an admin set reaches no data until its owner changes it.
        if getattr(principal, "must_change_password", False):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "choose a new password first")
        return Reader(principal, None, k)


reader_gate = ReaderGate()
