"""An Open311 GeoReport v2 client: `GET requests.{json|xml}` with the spec's filters, retries
and paging.

Plain HTTP (httpx) rather than a wrapper package: the one PyPI wrapper (`georeport` 0.3)
speaks JSON only and is synchronous; the spec's required format is XML, and the sync job is
asyncio like the rest of the server.

Paging: GeoReport v2 filters by `start_date`/`end_date` (the request time) and lets a server
cap an answer (commonly at 1000 or after 90 days) without saying so. So a window is read in
pages: when a page is full, the next asks from the latest requested time seen (inclusive; the
ids already read are dropped), until a page comes back short. `cursor` is that time, so a run
that stops (server down) resumes where it ended and skips nothing.
"""

from __future__ import annotations

import asyncio
import json
import random
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import httpx

from fleetpilot.open311.records import Complaint, Malformed, parse

RETRYABLE = {429, 500, 502, 503, 504}


class Unavailable(RuntimeError):
    """The 311 server did not answer after the retries; str(exc) says what it last did."""


@dataclass(frozen=True)
class GeoReportSettings:
    base_url: str  # e.g. https://311.example.city/open311/v2
    jurisdiction_id: str | None = None
    api_key: str | None = None
    service_codes: tuple[str, ...] = ()  # the codes that mean "missed collection"
    fmt: str = "xml"  # json or xml (the spec requires xml of every server)
    page_size: int = 1000  # a page this full means "there may be more"
    timeout_s: float = 10.0
    retries: int = 5
    backoff_s: float = 0.5  # doubled per retry, with jitter


def update_id_of(body: bytes, fmt: str) -> str | None:
    """The update_id of a POST servicerequestupdates answer: JSON `[{"update_id": …}]` or
    `{"service_request_updates": [...]}`, XML `<service_request_updates><request_update>
    <update_id>…`; None when the answer names none (the POST itself succeeded)."""
    try:
        if fmt == "json":
            found = json.loads(body)
            if isinstance(found, dict):
                found = found.get("service_request_updates", [])
            first = found[0] if isinstance(found, list) and found else {}
            value = first.get("update_id") if isinstance(first, dict) else None
        else:
            element = ET.fromstring(body).find(".//update_id")
            value = None if element is None else element.text
    except (ValueError, ET.ParseError):
        return None
    return None if value in (None, "") else str(value).strip()


def _iso(instant: datetime) -> str:
    return instant.isoformat(timespec="seconds")


class GeoReportClient:
    def __init__(self, settings: GeoReportSettings, transport: httpx.AsyncBaseTransport | None = None):
        self.settings = settings
        self._http = httpx.AsyncClient(timeout=settings.timeout_s, transport=transport)

    async def __aenter__(self) -> GeoReportClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self._http.aclose()

    async def _get(self, path: str, params: dict[str, str]) -> bytes:
        return await self._send("GET", path, params)

    async def _send(self, method: str, path: str, params: dict[str, str]) -> bytes:
        """One call with the key and jurisdiction (query for GET, form body for POST), retried
        with doubling back-off and jitter on a transport error or 429/5xx; `Unavailable` after
        the last attempt, httpx.HTTPStatusError at once for any other refusal."""
        s = self.settings
        params = {k: v for k, v in params.items() if v}
        if s.jurisdiction_id:
            params["jurisdiction_id"] = s.jurisdiction_id
        if s.api_key:
            params["api_key"] = s.api_key
        url = f"{s.base_url.rstrip('/')}/{path}"
        last = "no attempt"
        for attempt in range(s.retries + 1):
            if attempt:
                await asyncio.sleep(s.backoff_s * 2 ** (attempt - 1) * (0.5 + random.random()))
            try:
                if method == "GET":
                    response = await self._http.get(url, params=params)
                else:
                    response = await self._http.post(url, data=params)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code in RETRYABLE:
                last = f"HTTP {response.status_code}"
                continue
            response.raise_for_status()
            return response.content
        raise Unavailable(f"{url}: no answer after {s.retries + 1} attempts ({last})")

    async def post_update(self, update: dict[str, str]) -> str | None:
        """POST a service request update (mySociety's Open311 extension, as FixMyStreet and
        its open311-adapter speak it: `POST servicerequestupdates.{fmt}`, form fields
        service_request_id, update_id, status, updated_datetime, description, plus the key
        and jurisdiction). Returns the id the server gave the update, if it said one."""
        body = await self._send("POST", f"servicerequestupdates.{self.settings.fmt}", update)
        return update_id_of(body, self.settings.fmt)

    async def page(self, start: datetime, end: datetime, status: str | None = None) -> list[Complaint]:
        """One answer of `requests.{fmt}` for requests made in [start, end]."""
        s = self.settings
        body = await self._get(
            f"requests.{s.fmt}",
            {
                "start_date": _iso(start),
                "end_date": _iso(end),
                "status": status or "",
                "service_code": ",".join(s.service_codes),
            },
        )
        try:
            return parse(body, s.fmt)
        except Malformed as exc:
            exc.body = body  # for the dead letter's size and hash
            raise

    async def requests(
        self, start: datetime, end: datetime, status: str | None = None
    ) -> AsyncIterator[tuple[list[Complaint], datetime]]:
        """Pages of complaints made in [start, end], each with the cursor to resume from."""
        seen: set[str] = set()
        cursor = start
        while True:
            found = await self.page(cursor, end, status)
            fresh = [c for c in found if c.service_request_id not in seen]
            seen.update(c.service_request_id for c in fresh)
            latest = max((c.requested_at for c in found), default=cursor)
            yield fresh, max(cursor, latest)
            if len(found) < self.settings.page_size or latest <= cursor and not fresh:
                return
            cursor = max(cursor, latest)
