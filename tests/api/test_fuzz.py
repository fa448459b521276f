"""Schemathesis fuzzing of the whole OpenAPI document against the app served by uvicorn on
loopback: valid and invalid inputs for every operation, as a role that may call it.
No answer may be a 5xx, and every answer must match the documented status codes,
content types and response schemas."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fleetpilot.api.app import create_app
from fleetpilot.settings import Settings

SPEC = create_app(Settings(jwt_secret="x" * 32, _env_file=None)).openapi()
OPERATIONS = [result.ok() for result in schemathesis.openapi.from_dict(SPEC).get_all_operations()]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Who each part of the API is fuzzed as: a user whose role may call it, so the handlers run.
USER_BY_PREFIX = [
    ("/api/v1/me/", ("ana", "driver")),
    ("/api/v1/admin/", ("adam", "admin")),
    ("/api/v1/exports", ("dora", "data_officer")),
    ("/api/v1/whatif", ("dora", "data_officer")),
    ("/api/v1/", ("sam", "supervisor")),
]
EXAMPLES_PER_OPERATION = 10
# Operations that hash or verify a password (Argon2id, deliberately ~0.1 s of CPU each) get fewer.
FEW_EXAMPLES = {"POST /api/v1/auth/token": 4, "POST /api/v1/admin/users": 4, "PATCH /api/v1/admin/users/{user_id}": 6}


def _user_for(path: str) -> tuple[str, str] | None:
    return next((user for prefix, user in USER_BY_PREFIX if path.startswith(prefix)), None)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_fuzz_operation(served, operation):
    user = _user_for(operation.path)
    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @settings(
        max_examples=FEW_EXAMPLES.get(operation.label, EXAMPLES_PER_OPERATION),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def check(case):
        # A fresh token per call: fuzzing /auth/logout revokes the token it is sent with.
        headers = {"Authorization": f"Bearer {served.token(*user)}"} if user else {}
        response = case.call(base_url=served.url, headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)

    check()
