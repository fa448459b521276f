"""The query parameters of OGC API – Features Part 1 (Core), parsed as the standard says.

Invalid values answer 400 (the standard's code for a bad parameter), not FastAPI's 422.
`datetime` chooses the days an aggregate layer is built over; the policy then widens them
to whole ISO weeks (decision 0004), and each feature states the range used (`start`, `end`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from fastapi import HTTPException, status
from fastapi.exceptions import RequestValidationError

from fleetpilot.api import policy
from fleetpilot.localtime import local_day, zone
from fleetpilot.settings import get_settings

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
MAX_OFFSET = 10_000_000


def bad_request(message: str) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, message)


def city_day(instant: datetime) -> date:
    """The day an instant falls on, for people and for ranges of days. With `city_time`, the
    one place that decides time for the doors: the city's local day in FLEETPILOT_TIMEZONE
    (fleetpilot.localtime.local_day, decision 0013), as the API's `from`/`to`."""
    return local_day(instant, get_settings().timezone)


def city_time(instant: datetime) -> str:
    """An instant as people read it ('2026-11-04 07:42 CST'): the city's clock, as `city_day`."""
    return instant.astimezone(zone(get_settings().timezone)).strftime("%Y-%m-%d %H:%M %Z")


@dataclass(frozen=True)
class Box:
    """A bbox in WGS 84 longitude/latitude (CRS84); west > east crosses the antimeridian."""

    west: float
    south: float
    east: float
    north: float

    def boxes(self) -> list[tuple[float, float, float, float]]:
        if self.west <= self.east:
            return [(self.west, self.south, self.east, self.north)]
        return [(self.west, self.south, 180.0, self.north), (-180.0, self.south, self.east, self.north)]


def parse_bbox(text: str | None) -> Box | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise bad_request("bbox: four (or six) comma-separated numbers: west,south,east,north") from None
    if len(values) == 6:  # 3D: minx,miny,minz,maxx,maxy,maxz; heights are ignored
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise bad_request("bbox: four (or six) comma-separated numbers: west,south,east,north")
    west, south, east, north = values
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90):
        raise bad_request("bbox: longitudes within ±180, latitudes within ±90, south not above north")
    return Box(west, south, east, north)


def _instant(text: str) -> datetime | date:
    """An RFC 3339 date-time, or a plain date (clients send both)."""
    try:
        if "T" not in text.upper():
            return date.fromisoformat(text)
        value = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise bad_request(f"datetime: {text!r} is not an RFC 3339 date-time or date") from None
    if value.tzinfo is None:
        raise bad_request(f"datetime: {text!r} needs a time zone (e.g. Z or +01:00)")
    return value


def _day(value: datetime | date) -> date:
    return city_day(value) if isinstance(value, datetime) else value


def parse_datetime(text: str | None) -> tuple[date | None, date | None]:
    """`datetime` as [first day, day after the last) — either end None when open or absent."""
    if text is None or text in ("", ".."):
        return None, None
    if "/" not in text:
        day = _day(_instant(text))
        return day, day + timedelta(days=1)
    start_text, _, end_text = text.partition("/")
    start = None if start_text in ("", "..") else _day(_instant(start_text))
    end = None if end_text in ("", "..") else _day(_instant(end_text)) + timedelta(days=1)
    if start is not None and end is not None and start >= end:
        raise bad_request("datetime: the interval's start is after its end")
    return start, end


async def days(text: str | None) -> tuple[date, date]:
    """The days an aggregate layer covers: the API's own defaults and limits (policy.day_range)."""
    start, end = parse_datetime(text)
    try:
        return await policy.day_range(start, end)
    except RequestValidationError as exc:
        raise bad_request("datetime: " + "; ".join(e["msg"] for e in exc.errors())) from None


def parse_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    try:
        value = int(text)
    except ValueError:
        raise bad_request(f"limit: a whole number from 1 to {MAX_LIMIT}") from None
    if value < 1:
        raise bad_request(f"limit: a whole number from 1 to {MAX_LIMIT}")
    return min(value, MAX_LIMIT)  # the standard: a larger limit is served as the maximum


def parse_offset(text: str | None) -> int:
    if text is None:
        return 0
    try:
        value = int(text)
    except ValueError:
        raise bad_request("offset: a whole number from 0") from None
    if not 0 <= value <= MAX_OFFSET:
        raise bad_request(f"offset: a whole number from 0 to {MAX_OFFSET}")
    return value
