"""The GeoReport v2 client against a server written from the spec (georeport_server): the
spec's example request files read alike from JSON and XML, the filters are sent, a capped
server is paged through, a server that is down is retried and then reported (and resumed
from the cursor, nothing skipped), and malformed answers are refused with a reason."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest
from georeport_server import FIXTURES, GeoReport, Served

from fleetpilot.open311.client import GeoReportClient, GeoReportSettings, Unavailable
from fleetpilot.open311.records import Malformed, from_json, from_xml

T0 = datetime(2026, 11, 2, 7, 0, tzinfo=timezone.utc)


@pytest.fixture
def georeport():
    state = GeoReport()
    served = Served(state)
    try:
        yield state, served.url
    finally:
        served.stop()


def _requests(n: int, start: datetime = T0) -> list[dict]:
    return [
        {
            "service_request_id": f"r{i:03d}",
            "status": "open" if i % 3 else "closed",
            "service_code": "SAN-MISSED" if i % 4 else "POT",
            "description": f"complaint {i}",
            "requested_datetime": (start + timedelta(minutes=10 * (i // 2))).isoformat(),  # pairs share a time
            "updated_datetime": (start + timedelta(minutes=10 * (i // 2), seconds=30)).isoformat(),
            "address": f"{100 + i} Main Street",
            "lat": 52.5 if i % 2 else None,
            "long": 13.405 if i % 2 else None,
        }
        for i in range(n)
    ]


def _settings(url: str, **more) -> GeoReportSettings:
    return GeoReportSettings(base_url=url, jurisdiction_id="city.example", backoff_s=0.01, **more)


async def _all(client: GeoReportClient, start: datetime, end: datetime) -> tuple[list, datetime]:
    found, cursor = [], start
    async for page, cursor in client.requests(start, end):  # noqa: B007 (the last one is returned)
        found += page
    return found, cursor


def test_the_specs_example_files_read_alike_in_json_and_xml():
    as_json = from_json((FIXTURES / "requests.json").read_bytes())
    as_xml = from_xml((FIXTURES / "requests.xml").read_bytes())
    assert as_json == as_xml
    assert [c.service_request_id for c in as_json] == ["638344", "638349"]
    first, address_only = as_json
    assert (first.lat, first.lon) == (37.762221815, -122.4651145)
    assert first.requested_at.utcoffset() == timedelta(hours=-8)
    assert address_only.lat is None and address_only.address == "1234 Main Street"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_capped_server_is_paged_through_with_the_filters_sent(georeport, fmt):
    state, url = georeport
    state.requests = _requests(23)
    state.max_results = 4  # fewer than asked for, unannounced, as real servers do

    async def main():
        async with GeoReportClient(_settings(url, fmt=fmt, service_codes=("SAN-MISSED",), page_size=4)) as client:
            return await _all(client, T0 - timedelta(days=1), T0 + timedelta(days=1))

    found, cursor = asyncio.run(main())
    wanted = [r["service_request_id"] for r in state.requests if r["service_code"] == "SAN-MISSED"]
    assert sorted(c.service_request_id for c in found) == sorted(wanted)  # none skipped, none twice
    assert len(found) == len({c.service_request_id for c in found})
    assert cursor == max(c.requested_at for c in found)
    assert all("service_code=SAN-MISSED" in call and "jurisdiction_id=city.example" in call for call in state.calls)
    assert len(state.calls) > 1


def test_a_server_that_is_down_is_retried_then_reported_and_resumed(georeport):
    state, url = georeport
    state.requests = _requests(6)
    state.fail_next = 2

    async def fetch(retries: int):
        async with GeoReportClient(_settings(url, fmt="json", retries=retries)) as client:
            return await _all(client, T0 - timedelta(days=1), T0 + timedelta(days=1))

    found, _ = asyncio.run(fetch(retries=3))  # two 503s, then an answer
    assert len(found) == 6
    state.fail_next = 10
    with pytest.raises(Unavailable, match="HTTP 503"):
        asyncio.run(fetch(retries=2))
    state.fail_next = 0
    assert len(asyncio.run(fetch(retries=2))[0]) == 6


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_malformed_answers_are_refused_with_a_reason(georeport, fmt):
    state, url = georeport
    state.malformed_next = 1

    async def main():
        async with GeoReportClient(_settings(url, fmt=fmt)) as client:
            return await _all(client, T0, T0 + timedelta(days=1))

    with pytest.raises(Malformed, match="not JSON|not XML"):
        asyncio.run(main())


@pytest.mark.parametrize(
    "item, reason",
    [
        ({"requested_datetime": "2026-11-02T07:00:00Z"}, "without service_request_id"),
        ({"service_request_id": "1"}, "no requested_datetime"),
        ({"service_request_id": "1", "requested_datetime": "2026-11-02T07:00:00"}, "no UTC offset"),
        ({"service_request_id": "1", "requested_datetime": "2026-11-02T07:00:00Z", "lat": 95, "long": 1}, "position"),
        ({"service_request_id": "1", "requested_datetime": "2026-11-02T07:00:00Z", "lat": "x", "long": 1}, "number"),
    ],
)
def test_a_request_missing_what_identifies_it_is_refused(item, reason):
    with pytest.raises(Malformed, match=reason):
        from_json(json.dumps([item]).encode())
    with pytest.raises(Malformed, match="list of service requests"):
        from_json(b'{"service_requests": []}')
