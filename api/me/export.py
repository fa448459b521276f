"""'Download all my data': one zip with JSON, GeoJSON and CSV of everything about me.

Raw fixes are streamed from a server-side cursor in chunks into files in a temporary
folder (never a whole month in memory), then zipped; file writing runs in a worker
thread so the event loop keeps serving others.
"""

from __future__ import annotations

import asyncio
import csv
import shutil
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

import asyncpg
import orjson

from fleetpilot.api.causes.service import given_by
from fleetpilot.api.hazards.service import my_reports
from fleetpilot.api.me.access_log import my_access_log
from fleetpilot.api.policy import OwnPerson, ShiftGrant, audit, own_shifts
from fleetpilot.api.shifts.service import shift_detail
from fleetpilot.localtime import local_iso

CHUNK_ROWS = 5000
ACCESS_LOG_LIMIT = 100_000
FIX_COLUMNS = ("ts", "lon", "lat", "speed_mps", "heading_deg", "hdop", "generalised")
# fixes.csv: ts (UTC) and, beside it, the same instant in the city's local time with its offset.
CSV_COLUMNS = ("shift_id", "ts", "ts_local", *FIX_COLUMNS[1:])
FIXES = """
SELECT ts, lon, lat, speed_mps, heading_deg, hdop, generalised FROM fixes
WHERE vehicle_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts
"""
README = """\
fleetpilot: all data about you ({person_id}), exported {exported_at}

account.json     your account and pseudonymous person id
shifts.json      each of your shifts: metrics, your hours and breaks record, facility
                 queues, stops, safety events with context, delays
fixes.csv        every stored position of your shifts (only on duty; kept {note}); `ts` is UTC,
                 `ts_local` the same instant in the city's time ({time_zone}) with its offset
tracks.geojson   the same positions as one line per shift (WGS 84 lon/lat)
access_log.json  everyone who opened your data, when and why
hazard_reports.json  the hazards you reported: where, what, your note, and the city's status
missed_causes.json   the causes you gave for streets your shifts missed

Times in the JSON files are UTC. Positions inside privacy zones were generalised before storage
(column `generalised`). Off-duty positions are never stored.
"""


def _write_rows(csv_writer, track: IO[str], rows: list, first_point: bool, shift_id: str, tz: str) -> None:
    csv_writer.writerows(
        [shift_id, r["ts"].isoformat(), local_iso(r["ts"], tz), *(r[c] for c in FIX_COLUMNS[1:])] for r in rows
    )
    coordinates = ",".join(f"[{r['lon']:.7f},{r['lat']:.7f}]" for r in rows)
    track.write(coordinates if first_point else "," + coordinates)


async def _write_fixes(conn: asyncpg.Connection, grants: list[ShiftGrant], folder: Path, tz: str) -> None:
    # Local temp files written between row fetches: small blocking writes, by design.
    with open(folder / "fixes.csv", "w", newline="") as fixes_file, open(folder / "tracks.geojson", "w") as track:  # noqa: ASYNC230
        writer = csv.writer(fixes_file)
        writer.writerow(CSV_COLUMNS)
        track.write('{"type":"FeatureCollection","features":[')
        for index, grant in enumerate(grants):
            properties = orjson.dumps(
                {
                    "shift_id": grant.shift_id,
                    "vehicle_id": grant.vehicle_id,
                    "starts_at": grant.starts_at,
                    "ends_at": grant.ends_at,
                }
            ).decode()
            track.write(
                ("," if index else "")
                + f'{{"type":"Feature","properties":{properties},"geometry":{{"type":"LineString","coordinates":['
            )
            first = True
            async with conn.transaction():  # cursors live inside a transaction
                cursor = await conn.cursor(FIXES, grant.vehicle_id, grant.starts_at, grant.ends_at)
                while rows := await cursor.fetch(CHUNK_ROWS):
                    await asyncio.to_thread(_write_rows, writer, track, rows, first, grant.shift_id, tz)
                    first = False
            track.write("]}}")
        track.write("]}")


def _zip(folder: Path, names: list[str], target: Path) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.write(folder / name, arcname=name)


async def export_my_data(conn: asyncpg.Connection, me: OwnPerson, retention_days: int, tz: str = "UTC") -> Path:
    """Build the zip; returns its path inside a temporary folder the caller removes (see cleanup)."""
    folder = Path(tempfile.mkdtemp(prefix="fleetpilot-export-"))
    try:
        exported_at = datetime.now(timezone.utc)
        grants = await own_shifts(conn, me)
        details = [await shift_detail(conn, grant) for grant in grants]
        log = await my_access_log(conn, me, ACCESS_LOG_LIMIT, 0)
        files = {
            "README.txt": README.format(
                person_id=me.person_id,
                exported_at=local_iso(exported_at, tz),
                note=f"{retention_days} days",
                time_zone=tz,
            ).encode(),
            "account.json": orjson.dumps(
                {"person_id": me.person_id, "username": me.principal.username, "exported_at": exported_at},
                option=orjson.OPT_INDENT_2,
            ),
            "shifts.json": orjson.dumps([orjson.Fragment(d) for d in details], option=orjson.OPT_INDENT_2),
            "access_log.json": orjson.dumps(log.model_dump(mode="json"), option=orjson.OPT_INDENT_2),
            "hazard_reports.json": orjson.dumps(
                [r.model_dump(mode="json") for r in await my_reports(conn, me)], option=orjson.OPT_INDENT_2
            ),
            "missed_causes.json": orjson.dumps(await given_by(conn, me), option=orjson.OPT_INDENT_2),
        }
        for name, content in files.items():
            (folder / name).write_bytes(content)
        await _write_fixes(conn, grants, folder, tz)
        await audit(
            conn, me.principal, "export_own_data", subject_person_id=me.person_id, detail={"shifts": len(grants)}
        )
        target = folder / f"fleetpilot-{me.person_id}-{exported_at:%Y%m%d}.zip"
        await asyncio.to_thread(_zip, folder, [*files, "fixes.csv", "tracks.geojson"], target)
        return target
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def cleanup(archive: Path) -> None:
    """Remove an export's temporary folder once the download has been sent."""
    shutil.rmtree(archive.parent, ignore_errors=True)
