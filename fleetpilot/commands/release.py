"""fleetpilot release: write a k-anonymous open-data bundle (docs/doors/open-data.md)."""

from __future__ import annotations

import argparse
import asyncio
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from fleetpilot.db.connect import resolve_database_url
from fleetpilot.settings import Settings

HELP = "write a k-anonymous open-data bundle (GeoParquet, GeoJSON, CSV, datapackage.json) for a period"
DEFAULT_DAYS = 28


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from", dest="start", type=date.fromisoformat, help="first day (default: 28 days before --to)"
    )
    parser.add_argument("--to", dest="end", type=date.fromisoformat, help="day after the last one (default: today)")
    parser.add_argument(
        "--out", type=Path, help="folder to write (default: <FLEETPILOT_DATA_DIR>/releases/<from>_<to>, whole weeks)"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from fastapi.exceptions import RequestValidationError

    from fleetpilot.api.ogc.params import city_day
    from fleetpilot.api.policy import day_range, whole_weeks
    from fleetpilot.api.release.bundle import release as write_release
    from fleetpilot.errors import ConfigError

    async def main() -> int:
        end = args.end or city_day(datetime.now(timezone.utc))
        try:
            days = await day_range(args.start or end - timedelta(days=DEFAULT_DAYS), end)
        except RequestValidationError as exc:
            raise ConfigError("; ".join(e["msg"] for e in exc.errors())) from None
        start, stop = whole_weeks(days)
        out = args.out or Path(settings.data_dir) / "releases" / f"{start}_{stop}"
        release = await write_release(resolve_database_url(settings), days, out)
        resources = release.package["resources"]
        print(
            f"release {release.release_id}: {release.scope.start} to {release.scope.end} (whole ISO weeks), "
            f"k = {release.scope.k_shifts} shifts / {release.scope.k_people} people, {len(resources)} files in {out}"
        )
        return 0

    return asyncio.run(main())
