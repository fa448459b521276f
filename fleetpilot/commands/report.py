"""fleetpilot report: the pilot report (goals against targets, privacy record, method) as HTML and PDF."""

from __future__ import annotations

import argparse
import asyncio
from datetime import date, timedelta
from pathlib import Path

from fleetpilot.db.connect import connect, resolve_database_url
from fleetpilot.localtime import today
from fleetpilot.settings import Settings

HELP = "write the pilot report (HTML and PDF) for whole local weeks: goals against targets, privacy record, method"
DEFAULT_DAYS = 28


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from", dest="start", type=date.fromisoformat, help="first local day (default: 28 days before --to)"
    )
    parser.add_argument(
        "--to", dest="end", type=date.fromisoformat, help="local day after the last (default: tomorrow)"
    )
    parser.add_argument("--out", type=Path, help="folder to write (default: <FLEETPILOT_DATA_DIR>/reports)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_run(args, resolve_database_url(settings), settings))


async def _run(args: argparse.Namespace, url: str, settings: Settings) -> int:
    from fastapi.exceptions import RequestValidationError

    from fleetpilot.api import policy
    from fleetpilot.api.goals import report
    from fleetpilot.errors import ConfigError

    end = args.end or today(settings.timezone) + timedelta(days=1)
    try:
        days = policy.checked_range(args.start or end - timedelta(days=DEFAULT_DAYS), end, settings.timezone)
    except RequestValidationError as exc:
        raise ConfigError("; ".join(e["msg"] for e in exc.errors())) from None
    conn = await connect(url)
    try:
        settings_row = await conn.fetchrow("SELECT k_min_shifts, k_min_people FROM privacy_settings")
        if settings_row is None:
            raise ConfigError("privacy settings missing; run `fleetpilot migrate`")
        start, stop = policy.whole_weeks(days)
        scope = policy.AggregateScope(start, stop, settings_row["k_min_shifts"], settings_row["k_min_people"])
        built = await report.build(conn, scope, settings.timezone)
    finally:
        await conn.close()
    pdf, pages = await asyncio.to_thread(report.render_pdf, built.html)
    out = args.out or Path(settings.data_dir) / "reports"
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"pilot-report-{scope.start}_{scope.end}"
    stem.with_suffix(".html").write_text(built.html, encoding="utf-8")
    stem.with_suffix(".pdf").write_bytes(pdf)
    goals = built.card.goals
    verdicts = {v: sum(g["verdict"] == v for g in goals) for v in ("met", "missed", "too close to call", "no data")}
    print(
        f"pilot report {scope.start} to {scope.end} (whole local weeks, {settings.timezone}): {len(goals)} goals "
        f"({', '.join(f'{n} {v}' for v, n in verdicts.items())}), {pages} pages, "
        f"{built.card.withheld_cells} of {built.card.cells} route-weeks withheld (k)"
    )
    print(f"  {stem.with_suffix('.pdf')}")
    print(f"  {stem.with_suffix('.html')}")
    return 0
