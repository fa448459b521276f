"""The city's clock: local days and ISO weeks of UTC instants (docs/decisions/0013).

Storage is UTC; people meet the city's local time. Everything that files an instant under a
day or a week goes through here, so there is one rule:

- a shift belongs to the **local day of its start** (``local_day``), in the zone
  ``FLEETPILOT_TIMEZONE`` (IANA name, default ``America/Chicago``: the demo city sits at
  Dallas's coordinates);
- its week is the **ISO week of that local day**, named by its Monday (``week_start``); the
  k-suppression cells of decision 0004 are (unit, this week);
- a range of local days [start, end) covers the instants [local midnight of start, local
  midnight of end) (``day_bounds``): 23 or 25 hours on a daylight-saving day, not 24.

The rollup stores that local day in ``shift_metrics.day`` and the exposure tables, so SQL that
groups by ``day`` or ``date_trunc('week', day)`` groups by the city's days and weeks with no
time zone of its own.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "America/Chicago"


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; ValueError (one line) when it is not a known zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown IANA time zone {name!r} (e.g. America/Chicago, Europe/Helsinki)") from exc


def _zone(tz: str | ZoneInfo) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else zone(tz)


def local_day(instant: datetime, tz: str | ZoneInfo) -> date:
    """The city's calendar day of an aware instant."""
    if instant.tzinfo is None:
        raise ValueError("local_day needs an aware datetime (storage is UTC)")
    return instant.astimezone(_zone(tz)).date()


def week_start(day: date) -> date:
    """The Monday that starts the ISO week of a (local) day."""
    return day - timedelta(days=day.weekday())


def local_week(instant: datetime, tz: str | ZoneInfo) -> date:
    """The Monday of the city's ISO week holding an aware instant."""
    return week_start(local_day(instant, tz))


def day_start(day: date, tz: str | ZoneInfo) -> datetime:
    """Local midnight of `day` as an aware UTC instant. Where a daylight-saving change skips
    midnight (e.g. America/Santiago), fold=0 reads the skipped wall time with the offset before
    the gap, which lands on the first instant after it: still the same local day."""
    return datetime.combine(day, time(), tzinfo=_zone(tz)).astimezone(timezone.utc)


def day_bounds(start: date, end: date, tz: str | ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) local days as the UTC instants [local midnight of start, of end)."""
    return day_start(start, tz), day_start(end, tz)


def today(tz: str | ZoneInfo, now: datetime | None = None) -> date:
    """The city's current day."""
    return local_day(now or datetime.now(timezone.utc), tz)


def local_iso(instant: datetime, tz: str | ZoneInfo) -> str:
    """ISO 8601 local time with its offset, to the second ('2026-11-01T01:30:00-05:00')."""
    return instant.astimezone(_zone(tz)).isoformat(timespec="seconds")
