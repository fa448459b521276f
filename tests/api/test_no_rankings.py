"""No endpoint ranks or lists people: outside a person's own views and the admin paths, no
response of the API carries a field that names a person or an account, and no operation
takes a parameter to sort or rank by."""

from __future__ import annotations

PERSONAL_PATHS = ("/api/v1/me/", "/api/v1/auth/me", "/api/v1/admin/")
PERSON_FIELDS = {
    "person_id",
    "person",
    "people",
    "crew",
    "driver",
    "drivers",
    "full_name",
    "name_of_driver",
    "username",
    "user_id",
    "actor",
    "employee_no",
}
RANKING_PARAMETERS = {"sort", "sort_by", "order", "order_by", "rank", "top", "leaderboard"}


def _fields(schema, spec, seen=()) -> set[str]:
    """Every property name reachable from a JSON schema (following $ref)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if ref:
            if ref in seen:
                return set()
            target = spec
            for part in ref.lstrip("#/").split("/"):
                target = target[part]
            return _fields(target, spec, (*seen, ref))
        names = set(schema.get("properties", {}))
        for value in schema.values():
            names |= _fields(value, spec, seen)
        return names
    if isinstance(schema, list):
        return set().union(*(_fields(item, spec, seen) for item in schema)) if schema else set()
    return set()


def test_only_personal_and_admin_paths_answer_with_person_fields(shared_api):
    spec = shared_api.client.app.openapi()
    found = {}
    for path, ops in spec["paths"].items():
        if path.startswith(PERSONAL_PATHS):
            continue
        for method, op in ops.items():
            for status, response in op.get("responses", {}).items():
                if status.startswith("2"):
                    named = _fields(response, spec) & PERSON_FIELDS
                    if named:
                        found[f"{method.upper()} {path}"] = sorted(named)
    assert found == {}


def test_the_checker_sees_person_fields_where_they_belong(shared_api):
    spec = shared_api.client.app.openapi()
    users = spec["paths"]["/api/v1/admin/users"]["get"]["responses"]["200"]
    assert {"person_id", "username"} <= _fields(users, spec)


def test_no_operation_sorts_or_ranks(shared_api):
    spec = shared_api.client.app.openapi()
    names = {p["name"] for ops in spec["paths"].values() for op in ops.values() for p in op.get("parameters", [])}
    assert names & RANKING_PARAMETERS == set()
    assert not any(word in path for path in spec["paths"] for word in ("rank", "leaderboard", "top-"))
