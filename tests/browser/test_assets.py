"""The pages need nothing from the internet: plotly.js comes from the installed Python package,
compressed and cacheable, and no page, script or stylesheet names another host."""

from __future__ import annotations

import gzip
import re
from importlib import resources

from fastapi import FastAPI
from fastapi.testclient import TestClient

from fleetpilot.dashboards.assets import STATIC_DIR, assets_router

# The only absolute URL allowed: the SVG namespace inside the inline favicon (not fetched).
ALLOWED_URLS = {"http://www.w3.org/2000/svg"}


def client(**options) -> TestClient:
    app = FastAPI()
    app.include_router(assets_router(**options))
    return TestClient(app)


def test_plotly_is_served_from_the_installed_package_compressed_and_cacheable():
    bundled = resources.files("plotly").joinpath("package_data", "plotly.min.js").read_bytes()
    web = client()
    answer = web.get("/app-assets/plotly.min.js", headers={"Accept-Encoding": "gzip"})
    assert answer.status_code == 200
    assert answer.headers["content-encoding"] == "gzip"
    assert answer.headers["content-type"].startswith("text/javascript")
    assert "immutable" in answer.headers["cache-control"]
    assert answer.content == bundled  # httpx undoes the gzip: the bytes are the package's file
    raw = web.get("/app-assets/plotly.min.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers and raw.content == bundled
    again = web.get("/app-assets/plotly.min.js", headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert len(gzip.compress(bundled)) < len(bundled) / 2  # why it is worth compressing


def test_map_configuration_has_no_tiles_unless_configured():
    assert client().get("/app-assets/config.json").json() == {
        "tile_url": None,
        "tile_attribution": None,
        "timezone": "America/Chicago",  # the demo city's; pages show the city's local time
    }
    tiles = "https://tiles.example.org/{z}/{x}/{y}.png"
    configured = client(tile_url=tiles, tile_attribution="© example", timezone="Europe/Helsinki")
    assert configured.get("/app-assets/config.json").json() == {
        "tile_url": tiles,
        "tile_attribution": "© example",
        "timezone": "Europe/Helsinki",
    }


def test_no_page_script_or_stylesheet_names_another_host():
    files = [p for p in STATIC_DIR.rglob("*") if p.suffix in {".html", ".js", ".css"}]
    assert len(files) >= 20
    found = {(p.name, url) for p in files for url in re.findall(r"""https?://[^\s"'`)<>]+""", p.read_text())}
    assert {(name, url) for name, url in found if url not in ALLOWED_URLS} == set()
    scripts = {
        src for p in files if p.suffix == ".html" for src in re.findall(r'<script[^>]+src="([^"]+)"', p.read_text())
    }
    assert scripts and all(not s.startswith(("http:", "https:", "//")) for s in scripts)


def test_the_app_passes_the_tile_settings_to_the_maps(monkeypatch):
    from fleetpilot.api.app import create_app
    from fleetpilot.settings import Settings

    for name in ("FLEETPILOT_MAP_TILE_URL", "FLEETPILOT_MAP_TILE_ATTRIBUTION", "FLEETPILOT_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    tiles = "https://tiles.example.org/{z}/{x}/{y}.png"
    configured = Settings(
        database_url="postgresql://unused@127.0.0.1/unused",
        map_tile_url=tiles,
        map_tile_attribution="© example",
        timezone="Europe/Helsinki",
    )
    # No lifespan: the config route needs no database.
    answer = TestClient(create_app(configured)).get("/app-assets/config.json")
    assert answer.json() == {"tile_url": tiles, "tile_attribution": "© example", "timezone": "Europe/Helsinki"}
    default = Settings(database_url="postgresql://unused@127.0.0.1/unused")
    assert TestClient(create_app(default)).get("/app-assets/config.json").json() == {
        "tile_url": None,
        "tile_attribution": None,
        "timezone": "America/Chicago",
    }
