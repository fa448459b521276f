"""The evidence as the 311 team reads it: one CSV row per complaint, with the suggested reply.

The same columns for the CLI (`fleetpilot open311`, read live from the 311 server) and the
supervisor page's download (`GET /api/v1/complaints.csv`, from the stored queue), so a city's
311 team gets one file format whichever way it is made. Times are the city's (`local`), and
the row names routes, segments and trucks, never a person.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fleetpilot.open311.evidence import Evidence

COLUMNS = [
    "service_request_id",
    "requested_at",
    "address",
    "lat",
    "long",
    "verdict",
    "cause",
    "segment_id",
    "route_id",
    "vehicle_id",
    "collection_day",
    "passed_at_local",
    "stopped_s",
    "before_complaint",
    "evidence_version",
    "suggested_reply",
]
Local = Callable[[datetime], str]  # an instant as people read it: '2026-11-04 07:42 CST'


def clock(local: Local) -> Local:
    """Only the time of day with its zone ('07:42 CST'), for a reply that already names the day."""
    return lambda instant: local(instant)[11:]


def csv_row(
    evidence: Evidence,
    requested_at: datetime,
    address: str | None,
    lat: float | None,
    lon: float | None,
    local: Local,
) -> list[str]:
    return [
        evidence.service_request_id,
        requested_at.isoformat(),
        address or "",
        "" if lat is None else str(lat),
        "" if lon is None else str(lon),
        evidence.verdict,
        evidence.cause or "",
        evidence.segment_id or "",
        evidence.route_id or "",
        evidence.vehicle_id or "",
        evidence.collection_day or "",
        local(evidence.passed_at) if evidence.passed_at else "",
        "" if evidence.stopped_s is None else f"{evidence.stopped_s:.0f}",
        "" if evidence.before_complaint is None else str(evidence.before_complaint).lower(),
        evidence.version(),
        evidence.reply(clock(local)),
    ]
