"""GeoReport v2 service requests (https://wiki.open311.org/GeoReport_v2) from JSON or XML.

XML is parsed by the standard library's expat (≥ 2.4 refuses entity-expansion bombs; no
external entities are resolved). A document that is not a list of requests, or a request
without an id or a valid requested time, is refused with a one-line reason (Malformed), for
the caller to dead-letter.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime


class Malformed(ValueError):
    """A 311 answer that cannot be read; str(exc) is the reason, `body` the answer (if known)."""

    body: bytes = b""


@dataclass(frozen=True)
class Complaint:
    service_request_id: str
    service_code: str | None
    status: str | None  # open | closed
    description: str | None
    requested_at: datetime  # aware
    updated_at: datetime | None
    lon: float | None
    lat: float | None
    address: str | None


def _time(value: str | None, field: str, request_id: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise Malformed(f"request {request_id}: {field} {value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise Malformed(f"request {request_id}: {field} {value!r} has no UTC offset")
    return parsed


def _number(value, field: str, request_id: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise Malformed(f"request {request_id}: {field} {value!r} is not a number") from None


def _complaint(item: dict) -> Complaint:
    request_id = item.get("service_request_id")
    if request_id in (None, ""):
        raise Malformed("a request without service_request_id")
    request_id = str(request_id)
    requested = _time(item.get("requested_datetime"), "requested_datetime", request_id)
    if requested is None:
        raise Malformed(f"request {request_id}: no requested_datetime")
    lat, lon = _number(item.get("lat"), "lat", request_id), _number(item.get("long"), "long", request_id)
    if (lat is None) != (lon is None) or (lat is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180)):
        raise Malformed(f"request {request_id}: lat/long {lat}, {lon} is not a position")
    return Complaint(
        service_request_id=request_id,
        service_code=item.get("service_code") or None,
        status=item.get("status") or None,
        description=item.get("description") or None,
        requested_at=requested,
        updated_at=_time(item.get("updated_datetime"), "updated_datetime", request_id),
        lon=lon,
        lat=lat,
        address=item.get("address") or None,
    )


def from_json(body: bytes) -> list[Complaint]:
    try:
        items = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Malformed(f"not JSON: {exc}") from None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise Malformed("JSON is not a list of service requests")
    return [_complaint(i) for i in items]


def from_xml(body: bytes) -> list[Complaint]:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise Malformed(f"not XML: {exc}") from None
    if root.tag != "service_requests":
        raise Malformed(f"XML root is <{root.tag}>, not <service_requests>")
    return [_complaint({child.tag: (child.text or "").strip() for child in request}) for request in root]


def parse(body: bytes, fmt: str) -> list[Complaint]:
    return from_json(body) if fmt == "json" else from_xml(body)
