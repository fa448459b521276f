"""Issue 13, item 3: no quiet way around "who looked at my data".

An admin who could set a person's password, or make an account for a person who has none,
could sign in as that person and read their raw track without any row in that person's
access log. Now such acts are recorded with the person as subject, and a password set by an
admin reaches no data until its owner has replaced it."""

from __future__ import annotations

TOKEN = "/api/v1/auth/token"


def sign_in(api, username: str, password: str) -> str:
    response = api.client.post(TOKEN, data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _access_log(api, token: str) -> list[dict]:
    response = api.client.get("/api/v1/me/access-log", headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()["entries"]


def test_an_admin_password_reset_shows_in_the_persons_access_log_and_reaches_no_data(api, password):
    admin_pw = "admin knows this passphrase"
    reset = api.client.patch(
        f"/api/v1/admin/users/{api.world.users['ana']}", json={"password": admin_pw}, headers=api.headers("admin")
    )
    assert reset.status_code == 200, reset.text
    # The admin signs in as ana: every data path is closed until the password is changed.
    as_ana = sign_in(api, "ana", admin_pw)
    for path in (
        "/api/v1/me/shifts",
        f"/api/v1/me/shifts/{api.world.track_shift}/track",
        "/api/v1/me/export",
        "/api/v1/me/access-log",
    ):
        refused = api.client.get(path, headers=bearer(as_ana))
        assert refused.status_code == 403 and "password" in refused.json()["detail"], (path, refused.text)
    assert api.client.get("/api/v1/auth/me", headers=bearer(as_ana)).json()["must_change_password"] is True
    # Ana, having chosen her own password, sees the reset (by whom) in her own access log.
    fresh = api.client.post(
        "/api/v1/auth/password",
        json={"current_password": admin_pw, "new_password": "only ana knows this one"},
        headers=bearer(as_ana),
    )
    assert fresh.status_code == 200, fresh.text
    token = fresh.json()["access_token"]
    assert api.client.get("/api/v1/me/shifts", headers=bearer(token)).status_code == 200
    entries = _access_log(api, token)
    assert any(e["action"] == "change_user" and e["actor"] == "adam" for e in entries), entries


def test_an_account_made_by_an_admin_for_a_person_is_in_their_log_and_must_be_rekeyed(api):
    admin_pw = "admin made this passphrase"
    created = api.client.post(
        "/api/v1/admin/users",
        json={"username": "eve", "password": admin_pw, "role": "driver", "person_id": "p-zz-eve"},
        headers=api.headers("admin"),
    )
    assert created.status_code == 201, created.text
    subjects = api.sql("SELECT subject_person_id FROM audit_log WHERE action = 'create_user'")
    assert [r["subject_person_id"] for r in subjects] == ["p-zz-eve"]
    as_eve = sign_in(api, "eve", admin_pw)
    assert api.client.get("/api/v1/me/shifts", headers=bearer(as_eve)).status_code == 403
    token = api.client.post(
        "/api/v1/auth/password",
        json={"current_password": admin_pw, "new_password": "eve picked her own"},
        headers=bearer(as_eve),
    ).json()["access_token"]
    assert any(e["action"] == "create_user" for e in _access_log(api, token))


def test_disabling_or_enabling_a_persons_account_is_in_their_log(api, password):
    admin = api.headers("admin")
    for disabled in (True, False):
        answer = api.client.patch(
            f"/api/v1/admin/users/{api.world.users['ana']}", json={"disabled": disabled}, headers=admin
        )
        assert answer.status_code == 200
    entries = _access_log(api, sign_in(api, "ana", password))
    assert sum(e["action"] == "change_user" for e in entries) == 2


def test_changing_ones_own_password_needs_the_current_one_and_a_good_new_one(api, password):
    token = sign_in(api, "sam", password)
    wrong = api.client.post(
        "/api/v1/auth/password",
        json={"current_password": "not it at all", "new_password": "a good new passphrase"},
        headers=bearer(token),
    )
    assert wrong.status_code == 401
    weak = api.client.post(
        "/api/v1/auth/password",
        json={"current_password": password, "new_password": "password1234"},
        headers=bearer(token),
    )
    assert weak.status_code == 422
    assert api.client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200  # nothing changed
