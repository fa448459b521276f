"""/open-data: the latest open-data release's files, public (the city publishes them anyway), of
the latest release that meets the live k (a release made under a lower k is no longer served)."""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from fastapi.responses import FileResponse

from fleetpilot.api.deps import Allowed, Conn
from fleetpilot.api.policy import Capability

router = APIRouter(prefix="/open-data", tags=["public"])
Public = Allowed(Capability.PUBLIC)
# The latest release made under the live k or a stricter one: a release made while k was
# lowered is not served once k is raised again (like a stored what-if answer, issue 13).
LATEST = """
SELECT r.release_id, r.period_start, r.period_end, r.k_min_shifts, r.k_min_people, r.created_at, r.directory, r.files
FROM open_data_releases r JOIN privacy_settings ps
  ON r.k_min_shifts >= ps.k_min_shifts AND r.k_min_people >= ps.k_min_people
ORDER BY r.release_id DESC LIMIT 1
"""
MEDIA = {".json": "application/json", ".geojson": "application/geo+json", ".csv": "text/csv"}


async def latest(conn) -> dict | None:
    row = await conn.fetchrow(LATEST)
    return None if row is None else dict(row)


@router.get("/latest/{file:path}", responses={404: {"description": "no release, or no such file in it"}})
async def latest_file(_: Public, conn: Conn, file: Annotated[str, Path(max_length=200)]) -> FileResponse:
    """A file of the latest release (`datapackage.json` lists them). Only the files the
    release recorded are served: nothing else of the server's disk is reachable."""
    release = await latest(conn)
    if release is None or file not in release["files"]:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file in the latest release")
    path = FsPath(release["directory"]) / file
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the release's files are not on this server")
    return FileResponse(path, media_type=MEDIA.get(path.suffix, "application/octet-stream"))
