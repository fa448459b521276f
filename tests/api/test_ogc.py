"""OGC API – Features at /ogc: the standard's resources, access by token or API key, and
the release rule (decision 0004) holding for every layer: a withheld (unit, week) block is
never a feature, and changing data inside one changes no layer."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from gis_city import seed_city
from support import run, with_conn

from fleetpilot.api.ogc.layers import LAYERS

pytestmark = pytest.mark.integration

AGGREGATES = [layer_id for layer_id, layer in LAYERS.items() if layer.temporal]


def city(api) -> None:
    run(with_conn(api.database_url, seed_city))


def _range(api) -> str:
    """`datetime` covering the seeded weeks 1–4."""
    week1 = api.world.week1
    return f"{week1.isoformat()}/{(week1 + timedelta(days=27)).isoformat()}"


def _all_items(api, role, layer_id: str, **params) -> list[dict]:
    features, url, query = [], f"/ogc/collections/{layer_id}/items", {"limit": 2, **params}
    while url:
        r = api.client.get(url, params=query, headers=api.headers(role) if isinstance(role, str) else role)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/geo+json")
        body = r.json()
        assert body["numberReturned"] == len(body["features"])
        features += body["features"]
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        url, query = (nxt[0], None) if nxt else (None, None)
    assert len(features) == body["numberMatched"]
    return features


def test_landing_conformance_and_collections(shared_api):
    landing = shared_api.client.get("/ogc")
    assert landing.status_code == 200
    rels = {link["rel"] for link in landing.json()["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= rels
    conformance = shared_api.client.get("/ogc/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conformance
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conformance
    assert shared_api.client.get("/ogc/collections").status_code == 401
    listed = shared_api.get("/ogc/collections", "data_officer").json()["collections"]
    assert {c["id"] for c in listed} == set(LAYERS)
    for c in listed:
        assert any(link["rel"] == "items" for link in c["links"])


def test_roles_see_only_the_layers_their_role_may_read(shared_api):
    # Drivers read no aggregates (their own data only): the layers do not exist for them.
    driver = {c["id"] for c in shared_api.get("/ogc/collections", "driver").json()["collections"]}
    assert driver == {"facilities"}
    assert shared_api.get("/ogc/collections/route-efficiency/items", "driver").status_code == 404
    admin = {c["id"] for c in shared_api.get("/ogc/collections", "admin").json()["collections"]}
    assert admin == {"facilities"}


def test_parameters_are_checked_as_the_standard_asks(shared_api):
    get = lambda q: shared_api.get(f"/ogc/collections/route-efficiency/items?{q}", "supervisor").status_code  # noqa: E731
    assert get("bbox=1,2,3") == 400
    assert get("bbox=0,10,1,5") == 400
    assert get("bbox=nan,1,2,3") == 400
    assert get("limit=0") == 400
    assert get("limit=x") == 400
    assert get("offset=-1") == 400
    assert get("datetime=yesterday") == 400
    assert get("datetime=2026-01-10/2026-01-01") == 400
    assert get("datetime=2020-01-01/2026-01-01") == 400  # longer than the API's 400 days
    assert get("datetime=2026-01-01T10:00:00") == 400  # no time zone
    assert get("colour=red") == 400
    assert get("limit=999999") == 200  # served at the maximum
    assert shared_api.get("/ogc/collections/no-such/items", "supervisor").status_code == 404


def test_layers_equal_the_apis_own_answers(api):
    city(api)
    when = _range(api)
    start, end = when.split("/")
    to = (date.fromisoformat(end) + timedelta(days=1)).isoformat()
    q = {"from": start, "to": to}
    # route efficiency: the API's shown weeks, one feature each
    weeks = api.get("/api/v1/efficiency/routes", "supervisor", params=q).json()
    expected = {f"{r['route_id']}:{p['period_start']}": p for r in weeks for p in r["periods"] if not p["suppressed"]}
    got = {f["id"]: f for f in _all_items(api, "supervisor", "route-efficiency", datetime=when)}
    assert set(got) == set(expected) == {f"r-north:{api.world.week1.isoformat()}"}
    for fid, feature in got.items():
        for name, value in expected[fid].items():
            if name != "suppressed":
                assert feature["properties"][name] == value, name
        assert feature["geometry"]["type"] == "MultiLineString"
    # coverage per segment: the API's answer per route
    got = {f["id"]: f["properties"] for f in _all_items(api, "supervisor", "route-coverage", datetime=when)}
    north = api.get("/api/v1/routes/r-north/coverage", "supervisor", params=q).json()
    assert {f"r-north:{s['seq']}": s["coverage"] for s in north["segments"]} == {
        fid: p["coverage"] for fid, p in got.items()
    }
    assert api.get("/api/v1/routes/r-south/coverage", "supervisor", params=q).json()["suppressed"]
    # hotspots: the API's units, one feature each
    for level, kinds in (("segment", ("harsh_brake", "speeding")), ("cell", ("harsh_brake", "speeding"))):
        for kind in kinds:
            answer = api.get(f"/api/v1/hotspots/{level}s", "data_officer", params={**q, "kind": kind}).json()
            layer = f"{level}-hotspots-{kind.replace('_', '-')}"
            got = {f["id"]: f for f in _all_items(api, "data_officer", layer, datetime=when)}
            assert set(got) == {u["unit_id"] for u in answer["units"]}
            assert got, layer
            for unit in answer["units"]:
                feature = got[unit["unit_id"]]
                assert feature["geometry"] == unit["geometry"]
                for name, value in unit.items():
                    if name != "geometry":
                        assert feature["properties"][name] == value, (layer, name)
    # facilities and plans
    facilities = _all_items(api, "supervisor", "facilities")
    assert [f["id"] for f in facilities] == ["depot-1"]
    plans = api.get("/api/v1/routes/plans.geojson", "supervisor").json()["features"]
    got = _all_items(api, "supervisor", "route-plan-segments")
    assert [f["properties"] for f in got] == [
        f["properties"] for f in plans if f["properties"]["feature_type"] == "segment"
    ]


def test_bbox_and_paging(api):
    city(api)
    when = _range(api)
    cells = _all_items(api, "data_officer", "cell-hotspots-harsh-brake", datetime=when)
    assert cells and all(f["geometry"]["type"] == "Polygon" for f in cells)
    ring = cells[0]["geometry"]["coordinates"][0]
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    inside = f"{min(lons)},{min(lats)},{max(lons)},{max(lats)}"
    assert {
        f["id"] for f in _all_items(api, "data_officer", "cell-hotspots-harsh-brake", datetime=when, bbox=inside)
    } >= {cells[0]["id"]}
    assert _all_items(api, "data_officer", "cell-hotspots-harsh-brake", datetime=when, bbox="-10,-10,-9,-9") == []
    plans = _all_items(api, "supervisor", "route-plan-segments")
    assert len(plans) == 6  # two routes × three segments, paged two at a time
    first = api.get("/ogc/collections/route-plan-segments/items?limit=4", "supervisor").json()
    assert first["numberMatched"] == 6 and first["numberReturned"] == 4
    second = api.client.get(
        [link["href"] for link in first["links"] if link["rel"] == "next"][0], headers=api.headers("supervisor")
    ).json()
    assert second["numberReturned"] == 2
    assert any(link["rel"] == "prev" for link in second["links"])
    one = api.get(f"/ogc/collections/route-plan-segments/items/{plans[0]['id']}", "supervisor")
    assert one.status_code == 200 and one.json()["properties"] == plans[0]["properties"]
    assert api.get("/ogc/collections/route-plan-segments/items/nope", "supervisor").status_code == 404


def _every_layer(api, role, when) -> dict[str, list[dict]]:
    return {layer_id: _all_items(api, role, layer_id, datetime=when) for layer_id in AGGREGATES}


def test_a_withheld_block_never_appears(api):
    """Week 2 of r-north (one person), week 3 (three shifts), all of r-south (two shifts) and
    grid cell 2 (passed by r-south only) are below k: no layer has a feature or a figure from
    them, over any range, and changing the data inside them changes no layer."""
    city(api)
    week1 = api.world.week1
    ranges = [
        f"{(week1 + timedelta(weeks=a)).isoformat()}/{(week1 + timedelta(weeks=b, days=6)).isoformat()}"
        for a in range(0, 3)
        for b in range(a, 4)
    ]
    before = {when: _every_layer(api, "data_officer", when) for when in ranges}
    for when, layers in before.items():
        for layer_id, features in layers.items():
            for f in features:
                assert "r-south" not in f["id"] and f["properties"].get("route_id") != "r-south", (when, layer_id)
                assert f["id"] != "2", (when, layer_id)  # cell 2
                if layer_id == "route-efficiency":
                    assert f["properties"]["week_start"] == week1.isoformat()
    # Change everything inside the withheld blocks: figures, events, exposure.
    hidden_weeks = [week1 + timedelta(weeks=1), week1 + timedelta(weeks=2)]
    api.sql(
        "UPDATE shift_metrics SET distance_m = distance_m * 3, coverage = 0.1, idle_s = 99999,"
        " missed_segments = '{seg-a,seg-b}' WHERE route_id = 'r-south'"
        " OR (route_id = 'r-north' AND date_trunc('week', day::timestamp)::date = ANY($1::date[]))",
        hidden_weeks,
    )
    # Hotspot blocks are (street segment or grid cell, week): seg-a and cell 1 in weeks 2 and 3,
    # and cell 2 (passed by r-south only). r-south's passes of seg-a in week 1 are part of a
    # shown block (8 shifts by 5 people), so they stay as they are.
    in_hidden_weeks = (
        "shift_id IN (SELECT shift_id FROM shifts WHERE date_trunc('week', starts_at)::date = ANY($1::date[]))"
    )
    api.sql(
        f"UPDATE cell_exposure SET harsh_brake = harsh_brake + 7, passes = passes + 50 WHERE cell_id = 2 OR {in_hidden_weeks}",
        hidden_weeks,
    )
    api.sql(
        f"UPDATE segment_exposure SET harsh_brake = harsh_brake + 5, speeding = 9 WHERE {in_hidden_weeks}",
        hidden_weeks,
    )
    after = {when: _every_layer(api, "data_officer", when) for when in ranges}
    for when in ranges:
        for layer_id in AGGREGATES:
            assert after[when][layer_id] == before[when][layer_id], (when, layer_id)
    # The comparison can fail: a change inside a shown block (week 1 of r-north) shows.
    api.sql("UPDATE shift_metrics SET idle_s = idle_s + 600 WHERE route_id = 'r-north' AND day = $1", week1)
    assert _every_layer(api, "data_officer", ranges[0])["route-efficiency"] != before[ranges[0]]["route-efficiency"]


def test_api_keys_issued_used_and_revoked(api):
    city(api)
    assert api.post("/api/v1/admin/api-keys", "supervisor", json={"name": "GIS centre"}).status_code == 403
    issued = api.post("/api/v1/admin/api-keys", "admin", json={"name": "GIS centre"})
    assert issued.status_code == 201, issued.text
    key = issued.json()["key"]
    assert key.startswith("fpk_") and len(key) > 40
    stored = api.sql("SELECT key_hash FROM api_keys")[0]["key_hash"]
    assert key not in stored and len(stored) == 64
    assert all("key" not in k for k in api.get("/api/v1/admin/api-keys", "admin").json())
    for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
        listed = {c["id"] for c in api.client.get("/ogc/collections", headers=headers).json()["collections"]}
        assert listed == set(LAYERS)
        assert _all_items(api, headers, "route-efficiency", datetime=_range(api))
    # A key reads layers only: nothing else of the API.
    assert api.client.get("/api/v1/efficiency/routes", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    assert api.client.get("/ogc/collections", headers={"X-API-Key": key + "x"}).status_code == 401
    assert api.sql("SELECT last_used_at FROM api_keys")[0]["last_used_at"] is not None
    key_id = issued.json()["key_id"]
    revoked = api.client.delete(f"/api/v1/admin/api-keys/{key_id}", headers=api.headers("admin"))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert api.client.get("/ogc/collections", headers={"X-API-Key": key}).status_code == 401
    actions = [r["action"] for r in api.sql("SELECT action FROM audit_log ORDER BY audit_id")]
    assert actions[-2:] == ["issue_api_key", "revoke_api_key"]
