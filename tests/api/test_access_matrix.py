"""Every operation of the OpenAPI document × every role (and anonymous): allowed or refused
exactly as this table says. A new endpoint without a row here fails the suite.

The table is written out independently of `policy.RULES` on purpose: changing who may do
what takes two edits, one of them in a test that reviewers read.
"""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount

from fleetpilot.api.auth.tokens import issue_access_token
from fleetpilot.api.policy import Gate

ANON = "anonymous"
EVERYONE = {ANON, "driver", "supervisor", "data_officer", "admin"}
SIGNED_IN = {"driver", "supervisor", "data_officer", "admin"}
DRIVER = {"driver"}
SUPERVISOR = {"supervisor"}
ANALYSTS = {"supervisor", "data_officer"}
DATA_OFFICER = {"data_officer"}
INDIVIDUAL = {"supervisor", "admin"}
ADMIN = {"admin"}
DEVICES = set()  # device doors: only a tracker's or Traccar server's token, refused (401) to every person

EXPECTED: dict[tuple[str, str], set[str]] = {
    ("GET", "/health"): EVERYONE,
    ("GET", "/transparency"): EVERYONE,
    ("GET", "/api/v1/transparency"): EVERYONE,
    ("POST", "/api/v1/auth/token"): EVERYONE,
    ("GET", "/api/v1/auth/me"): SIGNED_IN,
    ("POST", "/api/v1/auth/logout"): SIGNED_IN,
    ("POST", "/api/v1/auth/password"): SIGNED_IN,
    ("GET", "/api/v1/city"): SIGNED_IN,
    ("GET", "/api/v1/me/shifts"): DRIVER,
    ("GET", "/api/v1/me/shifts/{shift_id}"): DRIVER,
    ("GET", "/api/v1/me/shifts/{shift_id}/track"): DRIVER,
    ("GET", "/api/v1/me/trends"): DRIVER,
    ("GET", "/api/v1/me/access-log"): DRIVER,
    ("GET", "/api/v1/me/export"): DRIVER,
    ("POST", "/api/v1/me/hazards"): DRIVER,
    ("GET", "/api/v1/me/hazards"): DRIVER,
    ("GET", "/api/v1/me/shifts/{shift_id}/causes"): DRIVER,
    ("GET", "/api/v1/me/plan"): DRIVER,
    ("POST", "/api/v1/me/shifts/{shift_id}/causes"): DRIVER,
    ("GET", "/api/v1/hazards"): ANALYSTS,
    ("GET", "/api/v1/hazards/fixed"): SIGNED_IN,
    ("PATCH", "/api/v1/hazards/{hazard_id}"): SUPERVISOR,
    ("GET", "/api/v1/shifts"): INDIVIDUAL,
    ("POST", "/api/v1/shifts/{shift_id}/open"): INDIVIDUAL,
    ("GET", "/api/v1/routes"): ANALYSTS,
    ("GET", "/api/v1/routes/plans.geojson"): ANALYSTS,
    ("POST", "/api/v1/routes/plans"): SUPERVISOR,
    ("GET", "/api/v1/routes/{route_id}"): ANALYSTS,
    ("PATCH", "/api/v1/routes/{route_id}"): SUPERVISOR,
    ("DELETE", "/api/v1/routes/{route_id}"): SUPERVISOR,
    ("GET", "/api/v1/routes/{route_id}/plan.geojson"): ANALYSTS,
    ("PUT", "/api/v1/routes/{route_id}/plan"): SUPERVISOR,
    ("POST", "/api/v1/routes/predict"): ANALYSTS,
    ("POST", "/api/v1/routes/balance"): ANALYSTS,
    ("POST", "/api/v1/routes/{route_id}/improve"): ANALYSTS,
    ("GET", "/api/v1/routes/workload"): ANALYSTS,
    ("POST", "/api/v1/routes/workload/rebalance"): ANALYSTS,
    ("GET", "/api/v1/routes/{route_id}/compare"): ANALYSTS,
    ("GET", "/api/v1/efficiency/routes"): ANALYSTS,
    ("GET", "/api/v1/routes/{route_id}/efficiency"): ANALYSTS,
    ("GET", "/api/v1/routes/{route_id}/coverage"): ANALYSTS,
    ("GET", "/api/v1/live/vehicles"): SUPERVISOR,
    ("GET", "/api/v1/hotspots/segments"): ANALYSTS,
    ("GET", "/api/v1/hotspots/cells"): ANALYSTS,
    ("GET", "/api/v1/exports"): DATA_OFFICER,
    ("GET", "/api/v1/exports/{dataset}"): DATA_OFFICER,
    ("GET", "/api/v1/whatif"): DATA_OFFICER,
    ("POST", "/api/v1/whatif/scenarios/{name}"): DATA_OFFICER,
    ("POST", "/api/v1/whatif/questions/{question_id}"): DATA_OFFICER,
    ("GET", "/api/v1/whatif/results"): DATA_OFFICER,
    ("GET", "/api/v1/whatif/results/{result_id}"): DATA_OFFICER,
    ("POST", "/api/v1/whatif/sessions"): DATA_OFFICER,
    ("GET", "/api/v1/whatif/sessions"): DATA_OFFICER,
    ("GET", "/api/v1/whatif/sessions/{session_id}"): DATA_OFFICER,
    ("POST", "/api/v1/whatif/sessions/{session_id}/questions"): DATA_OFFICER,
    ("PUT", "/api/v1/whatif/sessions/{session_id}/questions/{question_id}/triage"): DATA_OFFICER,
    ("GET", "/api/v1/whatif/sessions/{session_id}/export"): DATA_OFFICER,
    ("GET", "/api/v1/goals/catalogue"): SIGNED_IN,
    ("GET", "/api/v1/goals"): SIGNED_IN,
    ("PUT", "/api/v1/goals/{goal_id}"): {"data_officer", "admin"},
    ("GET", "/api/v1/goals/scorecard"): SIGNED_IN,
    ("GET", "/api/v1/goals/report"): SIGNED_IN,
    ("GET", "/api/v1/admin/users"): ADMIN,
    ("POST", "/api/v1/admin/users"): ADMIN,
    ("PATCH", "/api/v1/admin/users/{user_id}"): ADMIN,
    ("GET", "/api/v1/admin/people"): ADMIN,
    ("GET", "/api/v1/admin/vehicles"): ADMIN,
    ("POST", "/api/v1/admin/vehicles"): ADMIN,
    ("GET", "/api/v1/admin/devices"): ADMIN,
    ("POST", "/api/v1/admin/devices"): ADMIN,
    ("PATCH", "/api/v1/admin/devices/{device_id}"): ADMIN,
    ("GET", "/api/v1/admin/privacy"): ADMIN,
    ("PUT", "/api/v1/admin/privacy"): ADMIN,
    ("GET", "/api/v1/admin/privacy/zones"): ADMIN,
    ("POST", "/api/v1/admin/privacy/zones"): ADMIN,
    ("DELETE", "/api/v1/admin/privacy/zones/{zone_id}"): ADMIN,
    ("POST", "/api/v1/admin/retention/run"): ADMIN,
    ("GET", "/api/v1/admin/skew-held"): ADMIN,
    ("POST", "/api/v1/admin/vehicles/{vehicle_id}/skew-replay"): ADMIN,
    ("GET", "/api/v1/admin/audit"): ADMIN,
    ("GET", "/api/v1/admin/api-keys"): ADMIN,
    ("POST", "/api/v1/admin/api-keys"): ADMIN,
    ("DELETE", "/api/v1/admin/api-keys/{key_id}"): ADMIN,
    # OGC API – Features: the landing page and conformance hold no data; each layer is then
    # admitted per role (or read-only API key) by policy.Reader, tested in test_ogc.py.
    ("GET", "/open-data/latest/{file}"): EVERYONE,
    ("GET", "/api/v1/complaints"): INDIVIDUAL,
    ("GET", "/api/v1/complaints.csv"): INDIVIDUAL,
    ("GET", "/api/v1/complaints/tally"): ANALYSTS,
    ("GET", "/api/v1/me/complaints"): DRIVER,
    ("GET", "/ogc"): EVERYONE,
    ("GET", "/ogc/conformance"): EVERYONE,
    ("GET", "/ogc/collections"): SIGNED_IN,
    ("GET", "/ogc/collections/{collection_id}"): SIGNED_IN,
    ("GET", "/ogc/collections/{collection_id}/items"): SIGNED_IN,
    ("GET", "/ogc/collections/{collection_id}/items/{feature_id}"): SIGNED_IN,
    # HTTP ingest (Traccar, OwnTracks): device tokens only, tested in tests/ingest/test_traccar.py.
    ("POST", "/api/v1/ingest/traccar"): DEVICES,
    ("POST", "/api/v1/ingest/owntracks"): DEVICES,
    ("GET", "/api/v1/ingest/metrics"): EVERYONE,  # counters only, like /health
}
DEVICE_DOORS = {op for op, roles in EXPECTED.items() if roles is DEVICES}
ROLE_USERS = {"driver": "ana", "supervisor": "sam", "data_officer": "dora", "admin": "adam"}
# Values for path parameters: they need only get the request past routing.
PATH_VALUES = {
    "shift_id": "x",
    "route_id": "x",
    "user_id": "999",
    "device_id": "x",
    "zone_id": "999",
    "dataset": "route_efficiency",
    "name": "x",
    "question_id": "x",
    "result_id": "0" * 32,
    "key_id": "999",
    "hazard_id": "999",
    "collection_id": "x",
    "feature_id": "x",
    "file": "datapackage.json",
    "goal_id": "x",
    "vehicle_id": "x",
    "session_id": "999",
}
# Paths other than the OpenAPI operations: FastAPI's own docs and the dashboards' static files.
NOT_DATA = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def _operations(app) -> list[tuple[str, str]]:
    return [(method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops]


def test_every_operation_has_a_row_and_every_row_an_operation(shared_api):
    operations = set(_operations(shared_api.client.app))
    assert operations - set(EXPECTED) == set(), "endpoints without an access rule in this table"
    assert set(EXPECTED) - operations == set(), "rules for endpoints that no longer exist"


def _gates(dependant) -> list[Gate]:
    found = [d.call for d in dependant.dependencies if isinstance(d.call, Gate)]
    for sub in dependant.dependencies:
        found += _gates(sub)
    return found


def test_every_route_of_the_app_passes_exactly_one_policy_gate(shared_api):
    checked = 0
    for context in iter_route_contexts(shared_api.client.app.routes):
        if (
            isinstance(context.original_route, Mount)
            or context.path in NOT_DATA
            or context.path.startswith("/app-assets/")
        ):
            continue
        assert isinstance(context.original_route, APIRoute), f"{context.path} is not an API route"
        gates = {id(g): g for g in _gates(context.dependant)}
        assert len(gates) == 1, f"{context.methods} {context.path} has gates {list(gates.values())}"
        checked += len(context.methods)
    assert checked == len(EXPECTED) + 1  # + the root redirect


@pytest.mark.parametrize("role", sorted(EVERYONE))
def test_the_access_matrix(shared_api, role):
    app = shared_api.client.app
    wrong = []
    for method, path in _operations(app):
        url = path.format(**PATH_VALUES)
        headers = {}
        if role != ANON:
            # A fresh token per request: the logout row revokes the one it is given.
            token, _ = issue_access_token(app.state.token_keys, shared_api.world.users[ROLE_USERS[role]], role)
            headers["Authorization"] = f"Bearer {token}"
        # Bodies are left empty: an allowed request then fails validation (422) without changing anything,
        # because the gate runs before the body is validated.
        response = shared_api.client.request(
            method, url, headers=headers, json={} if method != "GET" else None, follow_redirects=False
        )
        allowed = role in EXPECTED[(method, path)]
        if allowed and response.status_code in (401, 403):
            wrong.append(f"{method} {path}: {role} refused ({response.status_code}) but should be allowed")
        refusal = 401 if role == ANON or (method, path) in DEVICE_DOORS else 403
        if not allowed and response.status_code != refusal:
            wrong.append(f"{method} {path}: {role} got {response.status_code}, expected refusal")
        if response.status_code >= 500:
            wrong.append(f"{method} {path}: {role} got {response.status_code}")
    assert wrong == []
