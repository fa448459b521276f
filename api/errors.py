"""Refusing a request as invalid in the same shape as FastAPI's own validation errors.

Checks that need more than one field or the database (a range, a purpose, a plan's
routes) answer 422 with ``{"detail": [{"loc", "msg", "type", "input"}]}``, so clients and
the OpenAPI document see one error format.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
from fastapi import Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

# Text PostgreSQL cannot hold (NUL, or bytes invalid in UTF-8) is refused as invalid input.
UNSTORABLE_TEXT = (asyncpg.CharacterNotInRepertoireError, asyncpg.UntranslatableCharacterError)


class UnknownRoute(LookupError):
    """A route id (or route version) that does not exist: routers answer 404."""


def invalid(loc: tuple[str | int, ...], msg: str, value: Any = None) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", "loc": loc, "msg": msg, "input": value}])


async def unstorable_text(request: Request, exc: Exception) -> JSONResponse:
    """422 for a parameter with characters PostgreSQL text cannot hold (found when it is sent)."""
    return await request_validation_exception_handler(
        request, invalid(("request",), "text contains characters that cannot be stored (e.g. NUL)")
    )


CLOCK_AHEAD = timedelta(minutes=5)  # a phone's clock may run a little ahead of ours


def made_on_phone(made_at: datetime | None, slack: timedelta) -> datetime:
    """When a phone says it made what it sends (queued without signal, it arrives late): now
    when absent; refused without a zone, older than `slack` or ahead of now."""
    now = datetime.now(timezone.utc)
    made = made_at or now
    if made.tzinfo is None:
        raise invalid(("body", "made_at"), "needs a time zone")
    if not now - slack <= made <= now + CLOCK_AHEAD:
        raise invalid(("body", "made_at"), f"must be within the last {slack.days} days")
    return made
