"""fleetpilot open311: answer the city's 311 "missed collection" complaints from the record."""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from datetime import date, datetime, time, timedelta, timezone

from pydantic_settings import BaseSettings, SettingsConfigDict

from fleetpilot.db.connect import resolve_database_url
from fleetpilot.settings import Settings

HELP = "read 311 complaints (Open311 GeoReport v2) and write the record's evidence as CSV for the 311 team"
COLUMNS = [
    "service_request_id",
    "requested_at",
    "address",
    "lat",
    "long",
    "verdict",
    "segment_id",
    "route_id",
    "vehicle_id",
    "collection_day",
    "passed_at_local",
    "stopped_s",
    "before_complaint",
    "suggested_reply",
]


class Open311Settings(BaseSettings):
    """FLEETPILOT_OPEN311_*: where the city's GeoReport v2 endpoint is and what to read."""

    model_config = SettingsConfigDict(env_prefix="FLEETPILOT_OPEN311_", env_file=None)
    base_url: str | None = None
    jurisdiction_id: str | None = None
    api_key: str | None = None
    service_codes: str = ""  # comma-separated codes that mean "missed collection"
    format: str = "xml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", help="GeoReport v2 base URL (default FLEETPILOT_OPEN311_BASE_URL)")
    parser.add_argument("--service-code", action="append", help="a code meaning missed collection (repeatable)")
    parser.add_argument("--format", choices=("json", "xml"), help="answer format to ask for (default xml)")
    parser.add_argument("--from", dest="start", type=date.fromisoformat, help="first day (default: 7 days ago)")
    parser.add_argument("--to", dest="end", type=date.fromisoformat, help="day after the last (default: tomorrow)")
    parser.add_argument(
        "--sync",
        action="store_true",
        help="store complaints with their evidence in the database instead, from where the last sync ended",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from fleetpilot.api.db import open_pool
    from fleetpilot.api.ogc.params import city_day, city_time
    from fleetpilot.errors import ConfigError
    from fleetpilot.open311.client import GeoReportClient, GeoReportSettings
    from fleetpilot.open311.evidence import evidence

    env = Open311Settings()
    base_url = args.base_url or env.base_url
    if not base_url:
        raise ConfigError("set --base-url or FLEETPILOT_OPEN311_BASE_URL (the city's GeoReport v2 endpoint)")
    codes = tuple(args.service_code or [c.strip() for c in env.service_codes.split(",") if c.strip()])
    client_settings = GeoReportSettings(
        base_url=base_url,
        jurisdiction_id=env.jurisdiction_id,
        api_key=env.api_key,
        service_codes=codes,
        fmt=args.format or env.format,
    )
    end = args.end or city_day(datetime.now(timezone.utc)) + timedelta(days=1)
    start = args.start or end - timedelta(days=8)
    local = city_time  # people read the city's clock (api/ogc/params.py decides it)

    async def store() -> int:
        from fleetpilot.open311.sync import sync

        pool = await open_pool(resolve_database_url(settings), max_size=1)
        try:
            async with pool.acquire() as conn, GeoReportClient(client_settings) as client:
                result = await sync(conn, client, datetime.now(timezone.utc), city_day)
        finally:
            await pool.close()
        print(f"open311: {result.stored} complaint(s) stored; next sync resumes from {result.cursor.isoformat()}")
        if result.error:
            raise ConfigError(result.error)
        return 0

    if args.sync:
        return asyncio.run(store())

    async def main() -> int:
        writer = csv.writer(sys.stdout)
        writer.writerow(COLUMNS)
        pool = await open_pool(resolve_database_url(settings), max_size=1)
        try:
            async with pool.acquire() as conn, GeoReportClient(client_settings) as client:
                window = (datetime.combine(start, time(), timezone.utc), datetime.combine(end, time(), timezone.utc))
                async for page, _cursor in client.requests(*window):
                    for complaint in page:
                        found = await evidence(conn, complaint, city_day)
                        writer.writerow(
                            [
                                complaint.service_request_id,
                                complaint.requested_at.isoformat(),
                                complaint.address or "",
                                "" if complaint.lat is None else complaint.lat,
                                "" if complaint.lon is None else complaint.lon,
                                found.verdict,
                                found.segment_id or "",
                                found.route_id or "",
                                found.vehicle_id or "",
                                found.collection_day or "",
                                local(found.passed_at) if found.passed_at else "",
                                "" if found.stopped_s is None else f"{found.stopped_s:.0f}",
                                "" if found.before_complaint is None else str(found.before_complaint).lower(),
                                found.reply(lambda t: local(t)[11:]),
                            ]
                        )
        finally:
            await pool.close()
        return 0

    return asyncio.run(main())
