"""Third-party browser assets and the dashboards' run-time configuration, served by the API.

plotly.js comes from the installed ``plotly`` Python package (``plotly/package_data``), so the
pages work with no internet and no npm: whoever installs fleetpilot has the exact bundle the
lock file pins. The bundle is ~4.8 MB; it is gzip-compressed once per process (~1.4 MB on the
wire) and served with a strong ETag, so a browser downloads it once per plotly version.

Routes (mounted next to the pages at ``/app``; the pages refer to them relatively):
- ``GET /app-assets/plotly.min.js`` — the plotly.js bundle.
- ``GET /app-assets/config.json`` — ``{"tile_url": str | null, "tile_attribution": str | null,
  "timezone": str}``: map options and the city's IANA time zone, in which the pages show every
  time and day (FLEETPILOT_TIMEZONE).
  With no tile URL (the default) maps draw streets from the city and the route plans on a plain
  equal-aspect plane and make no outside request.
"""

from __future__ import annotations

import gzip
import hashlib
from functools import lru_cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request, Response

from fleetpilot.localtime import DEFAULT_TIMEZONE

PREFIX = "/app-assets"
STATIC_DIR = Path(__file__).with_name("static")
# A year: the ETag names the exact bundle, and a new plotly version gets a new ETag.
CACHE_CONTROL = "public, max-age=31536000, immutable"


@lru_cache(maxsize=1)
def plotly_bundle() -> tuple[bytes, bytes, str]:
    """(raw bytes, gzip bytes, ETag) of plotly.min.js from the installed plotly package."""
    raw = resources.files("plotly").joinpath("package_data", "plotly.min.js").read_bytes()
    # mtime=0 keeps the compressed bytes identical across processes (same ETag, same body).
    packed = gzip.compress(raw, compresslevel=6, mtime=0)
    etag = '"plotly-' + hashlib.sha256(raw).hexdigest()[:20] + '"'
    return raw, packed, etag


def assets_router(
    tile_url: str | None = None, tile_attribution: str | None = None, timezone: str = DEFAULT_TIMEZONE
) -> APIRouter:
    """Router serving plotly.js and the map configuration.

    ``tile_url`` is an XYZ raster template such as ``https://tiles.example/{z}/{x}/{y}.png``;
    None (the default) means no base-map tiles, so no page contacts another host.
    """
    router = APIRouter(prefix=PREFIX, include_in_schema=False)
    map_config = {"tile_url": tile_url, "tile_attribution": tile_attribution, "timezone": timezone}

    @router.get("/plotly.min.js")
    def plotly_js(request: Request) -> Response:
        raw, packed, etag = plotly_bundle()
        headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "Vary": "Accept-Encoding"}
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(packed, media_type="text/javascript", headers=headers)
        return Response(raw, media_type="text/javascript", headers=headers)

    @router.get("/config.json")
    def config() -> dict:
        return map_config

    return router
