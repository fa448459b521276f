"""Route plans: GeoJSON import/export in the routes.geojson format, versions, edits."""

from __future__ import annotations

import copy
import json
from datetime import datetime, time, timedelta, timezone

import pytest

ROUTES = "/api/v1/routes"


def _plan(route_id: str = "r-new", shift: float = 0.0) -> dict:
    line = lambda *pts: {"type": "LineString", "coordinates": [[lon + shift, lat] for lon, lat in pts]}  # noqa: E731
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": line((13.40, 52.50), (13.41, 52.50)),
                "properties": {
                    "route_id": route_id,
                    "feature_type": "segment",
                    "seq": 1,
                    "segment_id": "s1",
                    "service": True,
                    "speed_limit_kmh": 30,
                    "route_name": "New route",
                },
            },
            {
                "type": "Feature",
                "geometry": line((13.41, 52.50), (13.41, 52.51)),
                "properties": {
                    "route_id": route_id,
                    "feature_type": "segment",
                    "seq": 2,
                    "segment_id": "s2",
                    "service": False,
                },
            },
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [13.405, 52.50]},
                "properties": {
                    "route_id": route_id,
                    "feature_type": "stop",
                    "seq": 1,
                    "stop_id": "stop-1",
                    "segment_id": "s1",
                },
            },
        ],
    }


def test_import_then_export_round_trips_and_is_idempotent(api):
    first = api.post(f"{ROUTES}/plans", "supervisor", json=_plan())
    assert first.json()["versions"] == {"r-new": 1}
    exported = api.get(f"{ROUTES}/r-new/plan.geojson", "supervisor").json()
    assert len(exported["features"]) == 3
    assert {f["properties"]["feature_type"] for f in exported["features"]} == {"segment", "stop"}
    # Importing the export again changes nothing.
    again = api.post(f"{ROUTES}/plans", "supervisor", json=exported)
    assert again.json()["versions"] == {"r-new": 1}
    detail = api.get(f"{ROUTES}/r-new", "data_officer").json()
    assert (detail["name"], detail["current_version"], detail["segments"], detail["stops"]) == ("New route", 1, 2, 1)
    assert detail["history"][0]["created_by"] == "sam"


def test_a_changed_plan_is_a_new_version_and_old_versions_stay_readable(api):
    api.post(f"{ROUTES}/plans", "supervisor", json=_plan())
    changed = api.client.put(
        f"{ROUTES}/r-new/plan",
        headers=api.headers("supervisor"),
        json={**_plan(shift=0.001), "note": "moved one block east"},
    )
    assert changed.json()["versions"] == {"r-new": 2}
    history = api.get(f"{ROUTES}/r-new", "supervisor").json()["history"]
    assert [(v["version"], v["note"]) for v in history] == [(1, None), (2, "moved one block east")]
    v1 = api.get(f"{ROUTES}/r-new/plan.geojson", "supervisor", params={"version": 1}).json()
    v2 = api.get(f"{ROUTES}/r-new/plan.geojson", "supervisor").json()
    assert v1["features"][0]["geometry"]["coordinates"][0] == [13.40, 52.50]
    assert v2["features"][0]["geometry"]["coordinates"][0] == [13.401, 52.50]
    assert api.get(f"{ROUTES}/r-new/plan.geojson", "supervisor", params={"version": 3}).status_code == 404
    audit = api.sql("SELECT action, detail FROM audit_log ORDER BY audit_id")
    assert [r["action"] for r in audit] == ["import_route_plans", "import_route_plans"]


def test_the_kept_plan_text_follows_a_new_version_a_rename_and_a_version_saved_again(api):
    """Each API process keeps a version's GeoJSON text (route_plans.service.PlanTexts), keyed by
    what it is made of: asked before and after each change, the answer is always the new one."""

    def current() -> dict:
        return api.get(f"{ROUTES}/r-new/plan.geojson", "supervisor").json()

    def first_lon(plan: dict) -> float:
        return plan["features"][0]["geometry"]["coordinates"][0][0]

    api.post(f"{ROUTES}/plans", "supervisor", json=_plan())
    assert first_lon(current()) == 13.40 and current() == current()  # kept and asked again
    api.client.put(f"{ROUTES}/r-new/plan", headers=api.headers("supervisor"), json=_plan(shift=0.001))
    assert first_lon(current()) == 13.401  # a new version saved
    api.client.patch(f"{ROUTES}/r-new", headers=api.headers("supervisor"), json={"name": "Renamed"})
    assert {f["properties"]["route_name"] for f in current()["features"]} == {"Renamed"}
    v1 = api.get(f"{ROUTES}/r-new/plan.geojson", "supervisor", params={"version": 1}).json()
    assert first_lon(v1) == 13.40 and v1["features"][0]["properties"]["route_name"] == "Renamed"
    # Version 2 deleted and saved again with other streets (a rebuilt database): read afresh.
    api.sql("UPDATE routes SET current_version = 1 WHERE route_id = 'r-new'")
    api.sql("DELETE FROM route_versions WHERE route_id = 'r-new' AND version = 2")
    api.sql("INSERT INTO route_versions (route_id, version, created_by) VALUES ('r-new', 2, 'again')")
    api.sql(
        "INSERT INTO route_segments (route_id, version, seq, segment_id, service, geometry) "
        "VALUES ('r-new', 2, 1, 's9', true, $1::jsonb)",
        '{"type": "LineString", "coordinates": [[13.5, 52.5], [13.51, 52.5]]}',
    )
    api.sql("UPDATE routes SET current_version = 2 WHERE route_id = 'r-new'")
    again = current()
    assert [f["properties"]["segment_id"] for f in again["features"]] == ["s9"] and first_lon(again) == 13.5


def test_moving_a_segment_between_routes_in_one_save(api):
    api.post(f"{ROUTES}/plans", "supervisor", json=_plan("r-a"))
    api.post(f"{ROUTES}/plans", "supervisor", json=_plan("r-b", shift=0.02))
    both = copy.deepcopy(_plan("r-a")["features"][:1]) + _plan("r-b", shift=0.02)["features"]
    moved = _plan("r-a")["features"][1]
    moved["properties"].update(route_id="r-b", seq=3)
    response = api.post(f"{ROUTES}/plans", "supervisor", json={"type": "FeatureCollection", "features": [*both, moved]})
    assert response.json()["versions"] == {"r-a": 2, "r-b": 2}
    routes = {r["route_id"]: r for r in api.get(ROUTES, "supervisor").json()}
    assert (routes["r-a"]["segments"], routes["r-b"]["segments"]) == (1, 3)


def test_everything_exports_as_one_collection(shared_api):
    features = shared_api.get(f"{ROUTES}/plans.geojson", "data_officer").json()["features"]
    assert {f["properties"]["route_id"] for f in features} == {"r-north", "r-south"}


@pytest.mark.parametrize(
    "breakage",
    [
        lambda p: p["features"][0].update(geometry={"type": "Point", "coordinates": [13.4, 52.5]}),
        lambda p: p["features"][2]["properties"].pop("stop_id"),
        lambda p: p["features"][0]["geometry"]["coordinates"].__setitem__(0, [200.0, 52.5]),
        lambda p: p["features"][0]["geometry"].update(coordinates=[[13.4, 52.5]]),
        lambda p: p["features"][1]["properties"].update(seq=1),
        lambda p: p["features"][0]["properties"].update(feature_type="depot"),
        lambda p: p["features"][0]["properties"].update(route_id="bad id with spaces"),
        lambda p: p.update(features=[]),
    ],
)
def test_malformed_plans_are_refused_and_store_nothing(shared_api, breakage):
    plan = _plan()
    breakage(plan)
    response = shared_api.post(f"{ROUTES}/plans", "supervisor", json=plan)
    assert response.status_code == 422, response.text
    assert shared_api.get(f"{ROUTES}/r-new", "supervisor").status_code == 404


def test_a_route_plan_save_may_only_hold_that_route(shared_api):
    response = shared_api.client.put(
        f"{ROUTES}/r-other/plan", headers=shared_api.headers("supervisor"), json=_plan("r-new")
    )
    assert response.status_code == 422 and "r-new" in response.json()["detail"][0]["msg"]


def test_rename_and_retire(api):
    renamed = api.client.patch(f"{ROUTES}/r-north", headers=api.headers("supervisor"), json={"name": "North loop"})
    assert renamed.json()["name"] == "North loop" and renamed.json()["active"] is True
    retired = api.client.delete(f"{ROUTES}/r-north", headers=api.headers("supervisor"))
    assert retired.json()["active"] is False
    # The route and its versions stay, because shifts drove them: 16, of which the version's
    # history counts the 6 of its released week (weeks 2 and 3 are withheld by the k rule).
    assert api.get(f"{ROUTES}/r-north", "supervisor").json()["history"][0]["shifts"] == 6
    assert api.client.delete(f"{ROUTES}/nope", headers=api.headers("supervisor")).status_code == 404


# --- editing: the predicted effect and the optimiser ----------------------------------------------


def _period(world) -> dict[str, str]:
    return {"from": world.week1.isoformat(), "to": (world.week1 + timedelta(weeks=4)).isoformat()}


def _predict(api, routes, role="supervisor"):
    return api.post(f"{ROUTES}/predict", role, params=_period(api.world), json={"routes": routes})


def test_an_unchanged_plan_predicts_todays_figures_from_released_shifts_only(shared_api):
    answer = _predict(
        shared_api,
        [
            {"route_id": "r-north", "segments": ["seg-a", "seg-b", "seg-c"], "stops": 0},
            {"route_id": "r-south", "segments": ["seg-a", "seg-b", "seg-c"], "stops": 0},
        ],
    )
    assert answer.status_code == 200, answer.text
    north, south = answer.json()["routes"]
    # r-north: only week 1 is released (6 shifts by 3 drivers); every shift was 8 h.
    assert north["shifts"] == 6 and not north["suppressed"]
    assert north["today"] == north["proposed"]
    assert north["today"]["shift_h"] == {"value": 8.0, "lo": 8.0, "hi": 8.0}
    assert north["today"]["deadhead_km"]["value"] == 9.0
    # r-south (2 shifts) is withheld: the plan's own figures only.
    assert south["suppressed"] and south["shifts"] == 0
    assert south["today"]["shift_h"] is None and south["today"]["service_km"] > 0


def test_a_shorter_plan_predicts_a_shorter_shift_and_fewer_km(shared_api):
    answer = _predict(shared_api, [{"route_id": "r-north", "segments": ["seg-a", "seg-b"], "stops": 0}])
    assert answer.status_code == 200, answer.text
    north = answer.json()["routes"][0]
    today, proposed = north["today"], north["proposed"]
    assert proposed["service_km"] < today["service_km"]
    assert proposed["shift_h"]["value"] < today["shift_h"]["value"]
    assert proposed["driving_km"]["value"] < today["driving_km"]["value"]
    assert proposed["segments"] == 2 and today["segments"] == 3


@pytest.mark.parametrize(
    ("routes", "status"),
    [
        ([{"route_id": "r-north", "segments": ["no-such-street"]}], 422),
        ([{"route_id": "r-north", "segments": ["seg-a", "seg-a"]}], 422),
        ([{"route_id": "r-nowhere", "segments": ["seg-a"]}], 404),
        ([{"route_id": "r-north", "segments": []}, {"route_id": "r-north", "segments": []}], 422),
    ],
)
def test_a_bad_plan_gets_a_clear_error(shared_api, routes, status):
    answer = _predict(shared_api, routes)
    assert answer.status_code == status, answer.text


def test_improve_sequence_serves_every_segment_and_never_adds_deadhead(shared_api):
    answer = shared_api.post(
        f"{ROUTES}/r-north/improve", "supervisor", json={"segments": ["seg-c", "seg-a", "seg-b"], "seconds": 0.5}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert sorted(s["segment_id"] for s in body["steps"] if s["service"]) == ["seg-a", "seg-b", "seg-c"]
    assert body["deadhead_km_after"] <= body["deadhead_km_before"]
    assert "local search" in body["solver"]
    refused = shared_api.post(f"{ROUTES}/r-north/improve", "driver", json={"segments": ["seg-a"]})
    assert refused.status_code == 403


def test_balance_without_released_history_for_every_route_uses_the_plan_model(shared_api):
    answer = shared_api.post(
        f"{ROUTES}/balance",
        "supervisor",
        params=_period(shared_api.world),
        json={
            "routes": [
                {"route_id": "r-north", "segments": ["seg-a", "seg-b"]},
                {"route_id": "r-south", "segments": ["seg-c"]},
            ],
            "tolerance_h": 0.1,
        },
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["basis"] == "plan model"  # r-south's shifts are withheld
    # seg-b touches seg-c, but moving it would make r-south the longer route.
    assert body["moves"] == []
    one = shared_api.post(
        f"{ROUTES}/balance",
        "supervisor",
        params=_period(shared_api.world),
        json={"routes": [{"route_id": "r-north", "segments": []}]},
    )
    assert one.status_code == 422


def _released_south(api) -> None:
    """Five short r-south shifts by five drivers in week 1: both routes then have released history."""
    week1 = api.world.week1
    people = ["p-ana", "p-zz-ben", "p-zz-cai", "p-zz-dan", "p-zz-eve"]
    for n, person in enumerate(people):
        day = week1 + timedelta(days=n)
        shift_id = f"{day}-truck-2-south-{n}"
        starts = datetime.combine(day, time(6), tzinfo=timezone.utc)
        api.sql(
            "INSERT INTO shifts VALUES ($1, 'truck-2', 'r-south', 1, $2, $3)",
            shift_id,
            starts,
            starts + timedelta(hours=3),
        )
        api.sql("INSERT INTO shift_crew (shift_id, person_id) VALUES ($1, $2)", shift_id, person)
        api.sql(
            "INSERT INTO shift_metrics (shift_id, vehicle_id, route_id, day, fixes, distance_m, deadhead_m, collection_s,"
            " deadhead_s, facility_s, stops) VALUES ($1, 'truck-2', 'r-south', $2, 100, 20000, 3000, 5400, 600, 0, 40)",
            shift_id,
            day,
        )


def test_balance_from_history_narrows_the_spread_of_predicted_shift_lengths(api):
    _released_south(api)
    plans = [
        {"route_id": "r-north", "segments": ["seg-a", "seg-b", "seg-c"]},
        {"route_id": "r-south", "segments": []},
    ]
    plans[1]["segments"] = plans[0]["segments"][2:]
    plans[0]["segments"] = plans[0]["segments"][:2]

    def spread(routes) -> float:
        answer = _predict(api, routes)
        assert answer.status_code == 200, answer.text
        hours = [r["proposed"]["shift_h"]["value"] for r in answer.json()["routes"]]
        return max(hours) - min(hours)

    answer = api.post(f"{ROUTES}/balance", "supervisor", params=_period(api.world), json={"routes": plans})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["basis"] == "history"
    assert body["moves"], "r-north's shifts are much longer: a touching segment moves"
    moved = {m["segment_id"] for m in body["moves"]}
    assert all(m["from_route"] == "r-north" and m["to_route"] == "r-south" for m in body["moves"])
    after = [
        {"route_id": "r-north", "segments": [s for s in plans[0]["segments"] if s not in moved]},
        {"route_id": "r-south", "segments": plans[1]["segments"] + sorted(moved)},
    ]
    assert spread(after) < spread(plans)


# --- facility trips follow the truck's capacity ---------------------------------------------------

CHAIN = [f"st-{i:02d}" for i in range(20)]  # a street of 20 pieces of ~68 m, west to east


def _chain_city(api, trips_released: int, trips_withheld: int) -> None:
    """r-north drives CHAIN[:10]; a landfill at the chain's east end, the depot at its west end;
    r-north's released week tipped `trips_released` times a shift, its withheld weeks more."""
    for i, segment in enumerate(CHAIN):
        line = [[13.40 + i * 0.001, 52.52], [13.40 + (i + 1) * 0.001, 52.52]]
        api.sql(
            "INSERT INTO street_segments (segment_id, name, road_class, speed_limit_kmh, geometry) "
            "VALUES ($1, 'Long St', 'residential', 30, $2::jsonb)",
            segment,
            f'{{"type": "LineString", "coordinates": {line}}}',
        )

    def square(lon: float) -> str:
        ring = [[lon - 2e-4, 52.5198], [lon + 2e-4, 52.5198], [lon + 2e-4, 52.5202], [lon - 2e-4, 52.5202]]
        return f'{{"type": "Polygon", "coordinates": [{[*ring, ring[0]]}]}}'

    api.sql(
        "INSERT INTO facilities VALUES ('depot-1', 'depot', 'Depot', $1::jsonb), "
        "('landfill-1', 'landfill', 'Landfill', $2::jsonb)",
        square(13.40),
        square(13.42),
    )
    api.sql("DELETE FROM route_segments WHERE route_id = 'r-north'")
    for seq, segment in enumerate(CHAIN[:10], start=1):
        api.sql(
            "INSERT INTO route_segments (route_id, version, seq, segment_id, service, speed_limit_kmh, geometry) "
            "SELECT 'r-north', 1, $1, segment_id, true, 30, geometry FROM street_segments WHERE segment_id = $2",
            seq,
            segment,
        )
    week1 = api.world.week1
    for trips, released in ((trips_released, True), (trips_withheld, False)):
        visits = [{"facility_id": "landfill-1", "facility_type": "landfill", "queue_s": 60}] * trips
        api.sql(
            "UPDATE shift_metrics SET metrics = metrics || jsonb_build_object('facility_visits', $1::jsonb), "
            "facility_s = $2 WHERE route_id = 'r-north' AND (day < $3) = $4",
            json.dumps(visits),
            1200.0 * trips,
            week1 + timedelta(weeks=1),
            released,
        )


def test_a_block_over_the_trucks_capacity_adds_a_facility_trip_and_removing_it_takes_one_away(api):
    # Released week: 2 trips a shift (1.5 truckloads over the 10 streets: 6 streets fill the
    # truck); the withheld weeks' 5 trips must not count (decision 0004).
    _chain_city(api, trips_released=2, trips_withheld=5)

    def figures(segments: list[str]) -> tuple[dict, dict]:
        answer = _predict(api, [{"route_id": "r-north", "segments": segments, "stops": 0}])
        assert answer.status_code == 200, answer.text
        assert "zz" not in answer.text and "p-ana" not in answer.text  # route-level only
        route = answer.json()["routes"][0]
        assert route["shifts"] == 6
        return route["today"], route["proposed"]

    today, same = figures(CHAIN[:10])
    assert today == same and today["facility_trips"] == {"value": 2.0, "lo": 2.0, "hi": 2.0}
    assert today["facility_h"]["value"] > 2 * 1200 / 3600  # at the landfill and the detours to it
    _, more = figures(CHAIN[:14])  # a block of 4 streets: 2.1 truckloads
    assert more["facility_trips"]["value"] == 3.0
    # The added trip's time: 20 min at the landfill and a detour there and back.
    added_h = more["facility_h"]["value"] - today["facility_h"]["value"]
    assert added_h > 1200 / 3600
    service_h = 4 * 68 * (18000 / 680) / 3600  # the block's streets at the route's collection rate (rough)
    assert more["shift_h"]["value"] - today["shift_h"]["value"] > added_h + 0.5 * service_h
    _, fewer = figures(CHAIN[:6])  # 0.9 truckloads: the final tip only
    assert fewer["facility_trips"]["value"] == 1.0
    assert fewer["facility_h"]["value"] < today["facility_h"]["value"]
