"""fleetpilot open311: answer the city's 311 "missed collection" complaints from the record."""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from datetime import date, datetime, timedelta, timezone

from pydantic_settings import BaseSettings, SettingsConfigDict

from fleetpilot.db.connect import resolve_database_url
from fleetpilot.localtime import day_bounds
from fleetpilot.settings import Settings

HELP = "read 311 complaints (Open311 GeoReport v2) and write the record's evidence as CSV for the 311 team"


class Open311Settings(BaseSettings):
    """FLEETPILOT_OPEN311_*: where the city's GeoReport v2 endpoint is and what to read."""

    model_config = SettingsConfigDict(env_prefix="FLEETPILOT_OPEN311_", env_file=None)
    base_url: str | None = None
    jurisdiction_id: str | None = None
    api_key: str | None = None
    service_codes: str = ""  # comma-separated codes that mean "missed collection"
    format: str = "xml"
    # Post the record's answer as a note where the 311 system accepts updates (mySociety's
    # Open311 extension, POST servicerequestupdates); off: the 311 team takes the CSV instead.
    write_back: bool = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", help="GeoReport v2 base URL (default FLEETPILOT_OPEN311_BASE_URL)")
    parser.add_argument("--service-code", action="append", help="a code meaning missed collection (repeatable)")
    parser.add_argument("--format", choices=("json", "xml"), help="answer format to ask for (default xml)")
    parser.add_argument("--from", dest="start", type=date.fromisoformat, help="first day (default: 7 days ago)")
    parser.add_argument("--to", dest="end", type=date.fromisoformat, help="day after the last (default: tomorrow)")
    parser.add_argument(
        "--sync",
        action="store_true",
        help="store complaints with their evidence in the database instead, from where the last sync ended; "
        "with FLEETPILOT_OPEN311_WRITE_BACK=true, then post each new answer to the 311 system as a note",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from fleetpilot.api.db import open_pool
    from fleetpilot.api.ogc.params import city_day, city_time
    from fleetpilot.errors import ConfigError
    from fleetpilot.open311.client import GeoReportClient, GeoReportSettings
    from fleetpilot.open311.evidence import evidence
    from fleetpilot.open311.notes import COLUMNS, csv_row

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
        from fleetpilot.open311.writeback import write_back

        pool = await open_pool(resolve_database_url(settings), max_size=1)
        notes = None
        try:
            async with pool.acquire() as conn, GeoReportClient(client_settings) as client:
                result = await sync(conn, client, datetime.now(timezone.utc), city_day)
                if env.write_back and result.error is None:
                    notes = await write_back(conn, client, local)
        finally:
            await pool.close()
        print(f"open311: {result.stored} complaint(s) stored; next sync resumes from {result.cursor.isoformat()}")
        if notes is not None:
            print(
                f"open311 write-back: {notes.posted} note(s) posted, {notes.already} already posted, "
                f"{len(notes.refused)} refused" + "".join(f"\n  refused {r}" for r in notes.refused)
            )
        if result.error:
            raise ConfigError(result.error)
        if notes is not None and notes.error:
            raise ConfigError(f"write-back stopped: {notes.error}")
        return 0

    if args.sync:
        return asyncio.run(store())

    async def main() -> int:
        writer = csv.writer(sys.stdout)
        writer.writerow(COLUMNS)
        pool = await open_pool(resolve_database_url(settings), max_size=1)
        try:
            async with pool.acquire() as conn, GeoReportClient(client_settings) as client:
                window = day_bounds(start, end, settings.timezone)  # the city's days
                async for page, _cursor in client.requests(*window):
                    for complaint in page:
                        found = await evidence(conn, complaint, city_day)
                        writer.writerow(
                            csv_row(
                                found, complaint.requested_at, complaint.address, complaint.lat, complaint.lon, local
                            )
                        )
        finally:
            await pool.close()
        return 0

    return asyncio.run(main())
