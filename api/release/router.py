"""/open-data: the latest open-data release's files, public (the city publishes them anyway), of
the latest release that meets the live k (a release made under a lower k is no longer served)
and whose figures the data of its period still give (its fingerprint, decision 0022): a release
whose released blocks changed since is withdrawn until the weekly job writes the period again."""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from fastapi.responses import FileResponse

from fleetpilot.api.deps import Allowed, Conn
from fleetpilot.api.policy import Capability
from fleetpilot.api.release import bundle

router = APIRouter(prefix="/open-data", tags=["public"])
Public = Allowed(Capability.PUBLIC)
# The latest release made under the live k or a stricter one: a release made while k was
# lowered is not served once k is raised again (like a stored what-if answer, issue 13).
LATEST = """
SELECT r.release_id, r.period_start, r.period_end, r.k_min_shifts, r.k_min_people, r.created_at, r.directory, r.files,
       r.data_fingerprint
FROM open_data_releases r JOIN privacy_settings ps
  ON r.k_min_shifts >= ps.k_min_shifts AND r.k_min_people >= ps.k_min_people
ORDER BY r.release_id DESC LIMIT 1
"""
MEDIA = {".json": "application/json", ".geojson": "application/geo+json", ".csv": "text/csv"}


async def latest(conn) -> dict | None:
    """The latest release that may be served (see the module), None if there is none."""
    row = await conn.fetchrow(LATEST)
    if row is None or await bundle.stale(conn, dict(row)) is not None:
        return None
    return dict(row)


@router.get(
    "/latest/{file:path}",
    responses={
        404: {"description": "no release, or no such file in it"},
        410: {"description": "the latest release was withdrawn: its data changed"},
    },
)
async def latest_file(_: Public, conn: Conn, file: Annotated[str, Path(max_length=200)]) -> FileResponse:
    """A file of the latest release (`datapackage.json` lists them). Only the files the
    release recorded are served: nothing else of the server's disk is reachable."""
    row = await conn.fetchrow(LATEST)
    release = None if row is None else dict(row)
    if release is None or file not in release["files"]:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file in the latest release")
    why = await bundle.stale(conn, release)
    if why is not None:
        raise HTTPException(
            status.HTTP_410_GONE, f"the latest release was withdrawn: {why}; the weekly release writes it again"
        )
    path = FsPath(release["directory"]) / file
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the release's files are not on this server")
    return FileResponse(path, media_type=MEDIA.get(path.suffix, "application/octet-stream"))
