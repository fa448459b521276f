"""Answering what-if scenarios and questions from the database, and storing the answers.

An answer is identified by a hash of what produced it — kind, name, the completed inputs
(parameters, period, time zone, k) and a fingerprint of the data (shifts and legs in the
period, plans, facilities). Asking the same thing of the same data returns the stored
answer; once the data changes, the same question gets a new answer and a new id, while
the old id keeps showing the old answer (a shared link never changes under the reader).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time as clock
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg

from fleetpilot.analytics.whatif import scenarios
from fleetpilot.analytics.whatif.privacy import Privacy
from fleetpilot.analytics.whatif.questions import QUESTIONS, Context, ask
from fleetpilot.analytics.whatif.questions.library import complete_params
from fleetpilot.api import policy
from fleetpilot.api.whatif import results
from fleetpilot.api.whatif.schemas import ResultOut
from fleetpilot.errors import FleetpilotError
from fleetpilot.rollup.whatif import queries
from fleetpilot.rollup.whatif.load import load_history, utc_bounds

Kind = Literal["scenario", "question"]


class WhatIfError(FleetpilotError):
    """The question cannot be answered as asked (unknown name, bad parameter, no data)."""


@dataclass(frozen=True)
class Stored:
    result_id: str
    kind: str
    name: str
    inputs: dict
    data_fingerprint: str
    answer: dict
    compute_s: float
    created_at: datetime
    cached: bool


def catalog() -> dict:
    """Every scenario and question with its parameters (for the page and the CLI)."""
    return {
        "scenarios": [s.describe() for s in scenarios.SCENARIOS.values()],
        "questions": [q.describe() for q in QUESTIONS.values()],
    }


def completed_params(kind: Kind, name: str, params: dict | None) -> dict:
    try:
        if kind == "scenario":
            return scenarios.complete(name, params)
        if name not in QUESTIONS:
            raise ValueError(f"unknown question {name!r}")
        return complete_params(QUESTIONS[name], params)
    except ValueError as exc:
        raise WhatIfError(str(exc)) from None


def check_time_zone(tz: str) -> None:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise WhatIfError(f"unknown time zone {tz!r} (use an IANA name such as Europe/Berlin)") from None


def result_id(kind: str, name: str, inputs: dict, fingerprint: str) -> str:
    canonical = json.dumps(
        {"kind": kind, "name": name, "inputs": inputs, "data": fingerprint},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


async def fingerprint(
    conn: asyncpg.Connection, start: date, end: date, tz: str = "UTC", released: frozenset[str] | None = None
) -> str:
    """What the answer over [start, end) depends on: of the released shifts only when given."""
    only = None if released is None else sorted(released)
    row = await conn.fetchrow(queries.FINGERPRINT, *utc_bounds(start, end, tz), only)
    return hashlib.sha256(json.dumps(dict(row), sort_keys=True, default=str).encode()).hexdigest()[:16]


RESULTS_PATH = "/api/v1/whatif/results/"


def result_out(stored: Stored) -> ResultOut:
    """A stored answer as the doors return it, with the link it can be read again at."""
    return ResultOut(**dict(stored.__dict__.items()), link=RESULTS_PATH + stored.result_id)


async def answer_in_scope(
    conn: asyncpg.Connection, access: policy.Access, kind: Kind, name: str, params: dict, days, tz: str
) -> Stored:
    """`answer` over the whole weeks of `days` from the shifts of released cells only (decision
    0004), with k read live: what every door that asks a question or a scenario goes through."""
    scope = await policy.aggregate_scope(conn, access, days)
    return await answer(
        conn,
        kind,
        name,
        params,
        scope.start,
        scope.end,
        Privacy(scope.k_shifts, scope.k_people),
        tz,
        access.principal.user_id if access.principal else None,
        released=await policy.released_shifts(conn, scope, tz),
    )


async def answer(
    conn: asyncpg.Connection,
    kind: Kind,
    name: str,
    params: dict | None,
    start: date,
    end: date,
    privacy: Privacy,
    tz: str = "UTC",
    user_id: int | None = None,
    released: frozenset[str] | None = None,
) -> Stored:
    """The stored answer for these inputs and data, computing and storing it if new.
    `released`: the shifts of released (unit, week) cells (policy.released_shifts); the
    answer is computed from them only. The inputs record the rule and its k, so a stored
    answer is served again only under the same rule (see `current`)."""
    values = completed_params(kind, name, params)
    check_time_zone(tz)
    inputs = {
        "params": values,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "tz": tz,
        "k_shifts": privacy.k_shifts,
        "k_people": privacy.k_people,
        "release": RELEASE_RULE if released is not None else None,
    }
    data = await fingerprint(conn, start, end, tz, released)
    rid = result_id(kind, name, inputs, data)
    existing = await get(conn, rid)
    if existing is not None:
        return existing
    try:
        history, total = await load_history(conn, start, end, tz, only=released)
    except (LookupError, ValueError) as exc:
        raise WhatIfError(str(exc)) from None
    if history.shifts.size == 0:
        raise WhatIfError(f"no prepared shifts start between {start} and {end} (run `fleetpilot whatif prepare`)")
    began = clock.perf_counter()
    try:
        # CPU-bound numpy work: off the event loop so other requests keep being served.
        result = await asyncio.to_thread(_compute, kind, name, history, values, privacy)
    except ValueError as exc:
        raise WhatIfError(str(exc)) from None
    seconds = clock.perf_counter() - began
    if history.shifts.size < total:
        result["notes"].append(
            f"computed from {history.shifts.size} of the period's {total} shifts; the others have "
            "no legs yet (`fleetpilot whatif prepare`)"
        )
    await conn.execute(
        results.INSERT_RESULT,
        rid,
        kind,
        name,
        json.dumps(inputs, default=str),
        data,
        json.dumps(result),
        seconds,
        user_id,
    )
    stored = await get(conn, rid)
    return Stored(**{**stored.__dict__, "cached": False})


def _compute(kind: Kind, name: str, history, values: dict, privacy: Privacy) -> dict:
    if kind == "scenario":
        return scenarios.run_scenario(name, history, values, privacy).to_dict()
    return ask(name, history, values, Context(privacy=privacy)).to_dict()


# The release rule the answers follow: decision 0004's blocks, k counting drivers (0009).
RELEASE_RULE = "0004 (route|vehicle) x ISO week, k shifts and k drivers"


async def current(
    conn: asyncpg.Connection, stored: Stored, k: tuple[int, int], released: frozenset[str] | None = None
) -> str | None:
    """None when `stored` may still be served: made under the live rule and k, from the data
    as it is now. Otherwise why it is withdrawn (asking again computes it anew). `released`:
    the shifts its period releases now (policy.released_shifts under the live k)."""
    inputs = stored.inputs
    if inputs.get("release") != RELEASE_RULE:
        return "it was computed under an older release rule"
    if (inputs.get("k_shifts"), inputs.get("k_people")) != tuple(k):
        return f"it was computed with k = ({inputs.get('k_shifts')}, {inputs.get('k_people')}); k is now {tuple(k)}"
    start, end = date.fromisoformat(inputs["from"]), date.fromisoformat(inputs["to"])
    if await fingerprint(conn, start, end, inputs.get("tz", "UTC"), released) != stored.data_fingerprint:
        return "the data of its period has changed since"
    return None


async def get(conn: asyncpg.Connection, rid: str) -> Stored | None:
    row = await conn.fetchrow(results.GET_RESULT, rid)
    if row is None:
        return None
    return Stored(
        row["result_id"],
        row["kind"],
        row["name"],
        _json(row["inputs"]),
        row["data_fingerprint"],
        _json(row["answer"]),
        float(row["compute_s"]),
        row["created_at"],
        cached=True,
    )


async def recent(conn: asyncpg.Connection, limit: int) -> list[dict]:
    return [
        {
            "result_id": r["result_id"],
            "kind": r["kind"],
            "name": r["name"],
            "inputs": _json(r["inputs"]),
            "compute_s": float(r["compute_s"]),
            "created_at": r["created_at"],
        }
        for r in await conn.fetch(results.RECENT_RESULTS, limit)
    ]


def _json(value):
    return json.loads(value) if isinstance(value, str) else value
