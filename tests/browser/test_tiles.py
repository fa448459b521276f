"""Base-map tiles are optional: with a tile URL configured the maps fetch their tiles from it
and show its attribution; with none (the default, every other browser test) no request
leaves the app (checked in test_pages)."""

from __future__ import annotations

import pytest
from browser.harness import PHONE, ApiServer, TileServer, Watch, open_page, screenshot, signed_in_context

pytestmark = pytest.mark.browser
ATTRIBUTION = "© test tiles"


@pytest.fixture(scope="module")
def tiled(pilot, pilot_settings):
    """The same pilot served by a second app whose settings name a local tile server."""
    from fleetpilot.api.app import create_app

    with TileServer() as tiles:
        settings = pilot_settings.model_copy(
            update={"map_tile_url": tiles.template, "map_tile_attribution": ATTRIBUTION}
        )
        with ApiServer(create_app(settings)) as server:
            yield server.base, tiles


def test_a_configured_tile_server_is_asked_for_tiles_and_credited(browser, pilot, tiled):
    base, tiles = tiled
    context = signed_in_context(browser, base, pilot.tokens["driver"], PHONE)
    page = context.new_page()
    watch = Watch().attach(page)
    assert open_page(page, "driver.html#map") == "true"
    # The map's tile requests go out as MapLibre lays the map out: wait for the first.
    page.wait_for_function("() => document.querySelector('#shift-map .maplibregl-canvas') !== null")
    for _ in range(300):
        if tiles.requested:
            break
        page.wait_for_timeout(100)
    assert tiles.requested and all(p.startswith("/tiles/") and p.endswith(".png") for p in tiles.requested)
    zooms = {int(p.split("/")[2]) for p in tiles.requested}
    assert min(zooms) >= 12, f"the map is not framed on the city: tiles at zoom {sorted(zooms)}"
    assert ATTRIBUTION in page.inner_text("#shift-map + .map-key .attribution")
    # Framed on the planned route: all of it inside the map's bounds.
    framing = page.evaluate("""() => {
      const el = document.getElementById("shift-map");
      const b = el._fullLayout.map._subplot.map.getBounds();
      const planned = el.data.find((t) => t.name === "Planned route");
      const lon = planned.lon.filter((v) => v !== null);
      const lat = planned.lat.filter((v) => v !== null);
      return { points: lon.length, inside: Math.min(...lon) >= b.getWest() && Math.max(...lon) <= b.getEast()
               && Math.min(...lat) >= b.getSouth() && Math.max(...lat) <= b.getNorth() };
    }""")
    assert framing["points"] > 10 and framing["inside"], framing
    screenshot(page, "driver-driver-tiles-phone")
    assert watch.problems() == [], watch.failed_requests
    # The tile server is the only other host asked for anything (no fonts, styles or icons).
    tile_root = tiles.template.split("/tiles/")[0] + "/tiles/"
    outside = [u for u in watch.requests if not u.startswith((base + "/", tile_root, "data:", "blob:"))]
    assert outside == [], outside
    context.close()
