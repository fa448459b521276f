"""SQL-injection strings in every parameter of every operation change nothing.

Each path and query parameter, and each string field of a valid request body, is given
injection strings in turn. The answer must be the one a harmless unknown value gets
(same status, same body apart from the echoed value), never a 5xx, and the personal data
tables must be exactly as before (compared by a checksum of every row).
"""

from __future__ import annotations

import copy
import json
from urllib.parse import quote

import pytest

INJECTIONS = [
    "' OR '1'='1",
    "'; DROP TABLE fixes; --",
    "p-ana' UNION SELECT person_id FROM people --",
    "1); DELETE FROM shift_crew; --",
]
BENIGN = "benign-value"
# Tables with personal data no endpoint writes; they must not change at all.
DATA_TABLES = [
    "people",
    "identity.person_names",
    "shifts",
    "shift_crew",
    "fixes",
    "events",
    "shift_metrics",
    "shift_events",
    "cell_exposure",
    "segment_exposure",
    "privacy_drops",
]
PLAN = {
    "type": "FeatureCollection",
    "note": "n",
    "features": [
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[13.4, 52.5], [13.41, 52.5]]},
            "properties": {
                "route_id": "r-north",
                "feature_type": "segment",
                "seq": 1,
                "segment_id": "seg-a",
                "route_name": "North",
            },
        }
    ],
}
# A valid body per operation that takes one; its string fields are injected one at a time.
BODIES = {
    ("post", "/api/v1/shifts/{shift_id}/open"): {"purpose": "incident 2026-5 injection test"},
    ("post", "/api/v1/routes/plans"): PLAN,
    ("put", "/api/v1/routes/{route_id}/plan"): PLAN,
    ("patch", "/api/v1/routes/{route_id}"): {"name": "North"},
    ("post", "/api/v1/routes/predict"): {
        "routes": [{"route_id": "r-north", "segments": ["seg-a", "seg-b"], "stops": 3}]
    },
    ("post", "/api/v1/routes/balance"): {
        "routes": [
            {"route_id": "r-north", "segments": ["seg-a", "seg-b"]},
            {"route_id": "r-south", "segments": ["seg-c"]},
        ]
    },
    ("post", "/api/v1/routes/{route_id}/improve"): {"segments": ["seg-c", "seg-a"], "seconds": 0.2},
    ("post", "/api/v1/admin/users"): {"username": "newuser", "password": "long enough password", "role": "supervisor"},
    ("patch", "/api/v1/admin/users/{user_id}"): {"password": "another long password"},
    ("post", "/api/v1/admin/vehicles"): {"vehicle_id": "truck-77", "city": "metro", "label": "spare"},
    ("post", "/api/v1/admin/devices"): {"device_id": "dev-77", "vehicle_id": "truck-1", "mqtt_username": "dev77"},
    ("patch", "/api/v1/admin/devices/{device_id}"): {"mqtt_username": "dev1"},
    ("put", "/api/v1/admin/privacy"): {
        "retention_days": 90,
        "k_min_shifts": 5,
        "k_min_people": 3,
        "zone_policy": "snap",
    },
    ("post", "/api/v1/whatif/scenarios/{name}"): {"params": {}},
    ("post", "/api/v1/routes/workload/rebalance"): {"params": {"max_moves": 5}},
    ("post", "/api/v1/whatif/questions/{question_id}"): {"params": {}},
    ("post", "/api/v1/admin/privacy/zones"): {"name": "depot yard", "lon": 13.4, "lat": 52.5, "radius_m": 20},
    ("post", "/api/v1/admin/api-keys"): {"name": "GIS centre"},
    ("post", "/api/v1/auth/password"): {"current_password": "not the password", "new_password": "violet tractor 42"},
    ("post", "/api/v1/admin/vehicles/{vehicle_id}/skew-replay"): {"offset_s": 600},
    ("post", "/api/v1/me/hazards"): {
        "client_key": "injection-key-1",
        "category": "road_damage",
        "lon": 13.4,
        "lat": 52.5,
        "located_by": "position",
        "note": "pothole by the depot",
    },
    ("patch", "/api/v1/hazards/{hazard_id}"): {"status": "acknowledged"},
    ("post", "/api/v1/me/shifts/{shift_id}/causes"): {
        "client_key": "injection-key-2",
        "segment_id": "seg-c",
        "cause": "parked_cars",
    },
    ("put", "/api/v1/goals/{goal_id}"): {
        "kpi": "coverage",
        "title": "Every planned street collected",
        "definition": "Planned service streets collected on their collection day.",
        "baseline_from": "2026-11-02",
        "baseline_to": "2026-11-16",
        "target": 97.0,
        "direction": "at_least",
        "department": "Sanitation",
    },
    ("post", "/api/v1/whatif/sessions"): {"title": "Agency heads, spring", "held_on": "2026-11-30"},
    ("post", "/api/v1/whatif/sessions/{session_id}/questions"): {
        "text": "How many planned streets were missed last month?",
        "department": "Sanitation",
    },
    ("put", "/api/v1/whatif/sessions/{session_id}/questions/{question_id}/triage"): {
        "triage": "out_of_scope",
        "note": "a question for the parks department",
    },
}
NO_BODY = {
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/admin/retention/run"),
    ("delete", "/api/v1/routes/{route_id}"),
    ("delete", "/api/v1/admin/privacy/zones/{zone_id}"),
}
ROLES = ["driver", "supervisor", "data_officer", "admin"]


def QUERY_DEFAULTS(api) -> dict[str, dict[str, str]]:  # noqa: N802 - a table, built per world
    """Valid values for required query parameters, so an injected one is what reaches the query."""
    starts, _ = api.world.shift_window[api.world.track_shift]
    return {
        "/api/v1/shifts": {"vehicle_id": "truck-1", "at": starts.isoformat()},
        "/api/v1/routes/{route_id}/compare": {"a": "1", "b": "1"},
    }


CHECKSUM = "SELECT count(*) AS n, coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') AS sum FROM {} t"


def _fingerprint(api) -> dict[str, tuple]:
    return {t: tuple(api.sql(CHECKSUM.format(t))[0]) for t in DATA_TABLES}


def _string_fields(body, prefix=()):
    """Paths to every string leaf of a JSON body."""
    if isinstance(body, dict):
        for key, value in body.items():
            yield from _string_fields(value, (*prefix, key))
    elif isinstance(body, list):
        for index, value in enumerate(body):
            yield from _string_fields(value, (*prefix, index))
    elif isinstance(body, str):
        yield prefix


def _with(body, path, value):
    changed = copy.deepcopy(body)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


def _cases(spec):
    """(method, path, where, name) for every parameter and body string of every operation."""
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if (method, path) == ("post", "/api/v1/auth/token"):
                yield method, path, "form", "username"
                yield method, path, "form", "password"
                continue
            for parameter in op.get("parameters", []):
                yield method, path, parameter["in"], parameter["name"]
            if "requestBody" in op and (method, path) not in NO_BODY:
                for field in _string_fields(BODIES[(method, path)]):
                    yield method, path, "body", field


def _send(api, role, method, path, where, name, value):
    path_values = {
        "shift_id": api.world.track_shift,
        "route_id": "r-north",
        # ben: resetting a password ends that user's tokens, and ben's is not one the roles here use
        "user_id": str(api.world.users["ben"]),
        "device_id": "dev-1",
        "zone_id": "1",
        "dataset": "route_efficiency",
        "name": "start_time",
        "question_id": "tip_trips_per_shift",
        "result_id": "0" * 32,
        "key_id": "1",
        "collection_id": "facilities",
        "feature_id": "depot-1",
        "file": "datapackage.json",
        "vehicle_id": "truck-1",
        "hazard_id": "1",
        "goal_id": "every-street",
        "session_id": "1",
    }
    if where == "path":
        path_values[name] = value
    url = path.format(**{k: quote(v, safe="") for k, v in path_values.items()})
    params = {**QUERY_DEFAULTS(api).get(path, {}), **({name: value} if where == "query" else {})}
    if where == "form":
        form = {"username": "ana", "password": "wrong password", name: value}
        return api.client.post(url, data=form)
    body = BODIES.get((method, path))
    if where == "body":
        body = _with(body, name, value)
    return api.client.request(method.upper(), url, params=params, json=body, headers=api.headers(role))


def _normalised(text: str, value: str) -> str:
    """The response with the value it may echo (as JSON text) replaced by a placeholder."""
    return text.replace(json.dumps(value)[1:-1], "<value>")


def _role_for(api, method, path) -> str:
    """The first role the operation admits (operations admit at least one)."""
    for role in ROLES:
        response = _send(api, role, method, path, "query", "unused", BENIGN)
        if response.status_code != 403:
            return role
    raise AssertionError(f"no role may call {method} {path}")


def test_every_body_taking_operation_has_an_example_body(shared_api):
    spec = shared_api.client.app.openapi()
    with_body = {(m, p) for p, ops in spec["paths"].items() for m, op in ops.items() if "requestBody" in op}
    assert with_body - set(BODIES) - NO_BODY == {("post", "/api/v1/auth/token")}


@pytest.mark.parametrize("kind", ["read", "write"])
def test_injection_strings_change_nothing(api, kind):
    spec = api.client.app.openapi()
    before = _fingerprint(api)
    problems = []
    for method, path, where, name in _cases(spec):
        if (method == "get") != (kind == "read"):
            continue
        role = _role_for(api, method, path)
        benign = _send(api, role, method, path, where, name, BENIGN)
        for injection in INJECTIONS:
            response = _send(api, role, method, path, where, name, injection)
            label = f"{method.upper()} {path} {where}:{name} {injection!r} as {role}"
            if response.status_code >= 500:
                problems.append(f"{label}: {response.status_code}")
            elif kind == "read" and response.status_code != benign.status_code:
                problems.append(f"{label}: {response.status_code}, a harmless value got {benign.status_code}")
            elif (
                kind == "read"
                and response.status_code == 200
                and _normalised(response.text, injection) != _normalised(benign.text, BENIGN)
            ):
                problems.append(f"{label}: answered differently from a harmless value")
    assert problems == []
    assert _fingerprint(api) == before
    # Values that were stored are stored literally, and the tables they went into are intact.
    names = {r["name"] for r in api.sql("SELECT name FROM privacy_zones")}
    if kind == "write":
        assert set(INJECTIONS) <= names
