"""Bodies of the crew's missed-segment causes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

# What a crew can give; 'blocked_street' is only ever taken from a blocked-street hazard report.
GivenCause = Literal["blocked_by_works", "parked_cars", "no_access", "bins_not_out", "other"]
Cause = Literal["blocked_by_works", "parked_cars", "no_access", "bins_not_out", "other", "blocked_street"]
CAUSES: tuple[str, ...] = Cause.__args__  # type: ignore[attr-defined]


class NewCause(BaseModel):
    """A cause chosen on the phone. client_key: made when it is chosen, so a cause queued
    without signal and sent again is stored once; the latest made_at wins."""

    client_key: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    segment_id: str = Field(min_length=1, max_length=200)
    cause: GivenCause
    made_at: datetime | None = None  # when chosen (the phone's clock); now when absent


class MissedSegment(BaseModel):
    """A planned service segment the shift missed, with its cause when it has one. source:
    'crew' (given from the shift view) or 'hazard_report' (a blocked-street report about
    the street made on the shift or while it was on duty). A segment with a cause is not
    counted as the crew's shortfall."""

    segment_id: str
    street: str | None
    cause: Cause | None
    source: Literal["crew", "hazard_report"] | None
    made_at: datetime | None  # when the crew's cause was chosen


class ShiftCauses(BaseModel):
    shift_id: str
    missed: list[MissedSegment]
