"""Purpose-bound individual access: no purpose, no data; every access in the audit log and in
the person's own access log; real names only on admin paths, and that read audited too."""

from __future__ import annotations

import pytest

PURPOSE = "incident 2026-113: complaint about a blocked driveway"


def _open(api, role: str, shift_id: str, purpose: str | None):
    body = {} if purpose is None else {"purpose": purpose}
    return api.post(f"/api/v1/shifts/{shift_id}/open", role, json=body)


def _audit(api, shift_id: str):
    return api.sql(
        "SELECT actor_user_id, actor_role, action, subject_person_id, purpose FROM audit_log "
        "WHERE shift_id = $1 ORDER BY subject_person_id",
        shift_id,
    )


@pytest.mark.parametrize("purpose", [None, "", "   ", "because", "x" * 7])
def test_no_or_vague_purpose_gives_no_data_and_no_audit_row(shared_api, purpose):
    shift_id = shared_api.world.track_shift
    response = _open(shared_api, "supervisor", shift_id, purpose)
    assert response.status_code == 422
    assert "metrics" not in response.text
    assert _audit(shared_api, shift_id) == []


def test_supervisor_opens_a_shift_with_a_purpose_and_the_crew_sees_it(api):
    shift_id = api.world.track_shift
    response = _open(api, "supervisor", shift_id, PURPOSE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["shift"]["shift_id"] == shift_id and body["shift"]["opened_for_purpose"] == PURPOSE
    assert body["shift"]["metrics"]["distance_km"] > 0
    assert body["track"]["features"][0]["properties"]["points"] > 0
    rows = _audit(api, shift_id)
    assert [(r["actor_user_id"], r["actor_role"], r["action"], r["subject_person_id"], r["purpose"]) for r in rows] == [
        (api.world.users["sam"], "supervisor", "open_shift", "p-ana", PURPOSE)
    ]
    log = api.get("/api/v1/me/access-log", "driver").json()
    assert log["total"] == 1
    entry = log["entries"][0]
    assert (entry["actor"], entry["actor_role"], entry["shift_id"], entry["purpose"]) == (
        "sam",
        "supervisor",
        shift_id,
        PURPOSE,
    )
    # Ben was not on that shift: his log stays empty.
    assert api.get("/api/v1/me/access-log", "ben").json()["total"] == 0


def test_every_crew_member_of_a_shared_shift_is_told(api):
    shift_id = api.world.shifts["p-zz-dan"][0]  # crewed by dan and eve
    assert _open(api, "admin", shift_id, PURPOSE).status_code == 200
    rows = _audit(api, shift_id)
    assert [r["subject_person_id"] for r in rows] == ["p-zz-dan", "p-zz-eve"]
    assert {r["actor_role"] for r in rows} == {"admin"}


def test_each_opening_is_logged_again(api):
    shift_id = api.world.track_shift
    for _ in range(3):
        assert _open(api, "supervisor", shift_id, PURPOSE).status_code == 200
    assert len(_audit(api, shift_id)) == 3
    assert api.get("/api/v1/transparency", None).json()["individual_accesses_last_30_days"] == 3


def test_an_unknown_shift_is_not_found_and_not_logged(api):
    assert _open(api, "supervisor", "no-such-shift", PURPOSE).status_code == 404
    assert api.sql("SELECT count(*) AS n FROM audit_log")[0]["n"] == 0


def test_shift_lookup_by_vehicle_and_time_names_no_people(shared_api):
    shift_id = shared_api.world.track_shift
    starts, _ = shared_api.world.shift_window[shift_id]
    response = shared_api.get(
        "/api/v1/shifts", "supervisor", params={"vehicle_id": "truck-1", "at": starts.isoformat()}
    )
    assert [s["shift_id"] for s in response.json()] == [shift_id]
    assert "p-" not in response.text and "person" not in response.text
    # A lookup is not an individual access: nothing is logged.
    assert shared_api.sql("SELECT count(*) AS n FROM audit_log WHERE shift_id = $1", shift_id)[0]["n"] == 0


def test_real_names_only_for_admins_and_the_read_is_audited(api):
    assert api.get("/api/v1/admin/people", "supervisor").status_code == 403
    people = api.get("/api/v1/admin/people", "admin").json()
    assert {p["person_id"]: p["full_name"] for p in people}["p-ana"] == "Ana Alves"
    assert {p["person_id"]: p["has_account"] for p in people}["p-zz-cai"] is False
    rows = api.sql("SELECT actor_role, action FROM audit_log")
    assert [(r["actor_role"], r["action"]) for r in rows] == [("admin", "read_identities")]


@pytest.mark.parametrize("role", ["driver", "supervisor", "data_officer", "admin"])
def test_no_response_outside_admin_paths_contains_a_real_name(shared_api, role):
    names = [r["full_name"] for r in shared_api.sql("SELECT full_name FROM identity.person_names")]
    paths = [
        p
        for p, ops in shared_api.client.app.openapi()["paths"].items()
        if "get" in ops and "{" not in p and not p.startswith("/api/v1/admin")
    ]
    for path in paths:
        text = shared_api.get(path, role, params={"from": shared_api.world.week1.isoformat()}).text
        assert not any(name in text for name in names), path


def test_the_audit_log_cannot_be_rewritten(api):
    _open(api, "supervisor", api.world.track_shift, PURPOSE)
    with pytest.raises(Exception, match="append-only"):
        api.sql("UPDATE audit_log SET purpose = 'nothing to see'")
    with pytest.raises(Exception, match="append-only"):
        api.sql("DELETE FROM audit_log")
