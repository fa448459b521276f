"""Importing city, route plans and rosters: shape checks, idempotence, route versioning."""

from __future__ import annotations

import copy

import pytest
from support import run, with_conn

from fleetpilot.db.importer import InvalidPlan, import_city, import_roster, import_routes

CITY = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[13.40, 52.50], [13.41, 52.50]]},
            "properties": {
                "kind": "street",
                "segment_id": "s1",
                "name": "Main St",
                "road_class": "arterial",
                "speed_limit_kmh": 50,
                "one_way": False,
            },
        },
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[13.41, 52.50], [13.41, 52.51]]},
            "properties": {
                "kind": "street",
                "segment_id": "s2",
                "name": "Elm St",
                "road_class": "residential",
                "speed_limit_kmh": 30,
                "one_way": True,
            },
        },
        {
            "type": "Feature",
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[13.39, 52.49], [13.395, 52.49], [13.395, 52.495], [13.39, 52.49]]],
            },
            "properties": {"kind": "facility", "facility_id": "depot", "facility_type": "depot", "name": "North depot"},
        },
    ],
}

ROUTES = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": CITY["features"][0]["geometry"],
            "properties": {
                "route_id": "r1",
                "feature_type": "segment",
                "seq": 1,
                "segment_id": "s1",
                "service": True,
                "speed_limit_kmh": 50,
            },
        },
        {
            "type": "Feature",
            "geometry": CITY["features"][1]["geometry"],
            "properties": {
                "route_id": "r1",
                "feature_type": "segment",
                "seq": 2,
                "segment_id": "s2",
                "service": True,
                "speed_limit_kmh": 30,
            },
        },
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [13.405, 52.50]},
            "properties": {"route_id": "r1", "feature_type": "stop", "seq": 1, "stop_id": "r1-1", "segment_id": "s1"},
        },
    ],
}

ROSTER = {
    "city": "metro",
    "vehicles": [{"vehicle_id": "truck-001", "device_id": "dev-001"}],
    "people": [{"person_id": "p-aaa111", "display_name": "Ana Driver"}, {"person_id": "p-bbb222"}],
    "shifts": [
        {
            "shift_id": "2026-11-20/truck-001",
            "vehicle_id": "truck-001",
            "route_id": "r1",
            "crew": ["p-aaa111", "p-bbb222"],
            "start": "2026-11-20T06:00:00Z",
            "end": "2026-11-20T16:00:00Z",
        }
    ],
}


def test_everything_imports_once_and_again_changes_nothing(db_url):
    async def body(conn):
        counts = [
            await import_city(conn, CITY),
            await import_routes(conn, ROUTES, created_by="t"),
            await import_roster(conn, ROSTER),
        ]
        snapshot = [
            await conn.fetch(f"SELECT * FROM {t} ORDER BY 1")
            for t in (
                "facilities",
                "street_segments",
                "route_versions",
                "route_segments",
                "route_stops",
                "shifts",
                "shift_crew",
                "people",
            )
        ]
        again = await import_routes(conn, ROUTES, created_by="t")
        await import_city(conn, CITY)
        await import_roster(conn, ROSTER)
        after = [
            await conn.fetch(f"SELECT * FROM {t} ORDER BY 1")
            for t in (
                "facilities",
                "street_segments",
                "route_versions",
                "route_segments",
                "route_stops",
                "shifts",
                "shift_crew",
                "people",
            )
        ]
        shift = await conn.fetchrow("SELECT * FROM shifts")
        name = await conn.fetchval("SELECT full_name FROM identity.person_names WHERE person_id = 'p-aaa111'")
        return counts, again, snapshot, after, shift, name

    counts, again, snapshot, after, shift, name = run(with_conn(db_url, body))
    assert counts == [{"facilities": 1, "streets": 2}, {"r1": 1}, {"vehicles": 1, "people": 2, "shifts": 1}]
    assert again == {"r1": 1}
    assert snapshot == after
    assert (shift["route_id"], shift["route_version"]) == ("r1", 1)
    assert name == "Ana Driver"


def test_a_changed_plan_becomes_a_new_version_and_old_shifts_keep_theirs(db_url):
    edited = copy.deepcopy(ROUTES)
    edited["features"][0]["properties"]["seq"], edited["features"][1]["properties"]["seq"] = 2, 1  # reorder
    later = copy.deepcopy(ROSTER)
    later["shifts"][0].update(shift_id="2026-11-21/truck-001", start="2026-11-21T06:00:00Z", end="2026-11-21T16:00:00Z")

    async def body(conn):
        await import_routes(conn, ROUTES)
        await import_roster(conn, ROSTER)
        versions = await import_routes(conn, edited, created_by="supervisor")
        await import_roster(conn, later)
        order = await conn.fetch("SELECT segment_id FROM route_segments WHERE route_id='r1' AND version=2 ORDER BY seq")
        shifts = await conn.fetch("SELECT shift_id, route_version FROM shifts ORDER BY shift_id")
        return versions, [r["segment_id"] for r in order], [tuple(r) for r in shifts]

    versions, order, shifts = run(with_conn(db_url, body))
    assert versions == {"r1": 2}
    assert order == ["s2", "s1"]
    assert shifts == [("2026-11-20/truck-001", 1), ("2026-11-21/truck-001", 2)]


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"type": "Feature"}, "FeatureCollection"),
        (
            {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "geometry": None, "properties": {"route_id": "r"}}],
            },
            "feature_type",
        ),
        (
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": None,
                        "properties": {"route_id": "r", "feature_type": "lane", "seq": 1},
                    }
                ],
            },
            "'segment' or 'stop'",
        ),
    ],
)
def test_malformed_route_files_are_refused_with_a_reason(db_url, bad, message):
    with pytest.raises(InvalidPlan, match=message):
        run(with_conn(db_url, lambda c: import_routes(c, bad)))


def test_roster_times_need_a_time_zone(db_url):
    naive = copy.deepcopy(ROSTER)
    naive["shifts"][0]["start"] = "2026-11-20T06:00:00"
    with pytest.raises(InvalidPlan, match="no time zone"):
        run(with_conn(db_url, lambda c: import_roster(c, naive)))
