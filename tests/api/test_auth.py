"""Sign-in, lockout, sign-out and token checks: only exactly right tokens get in."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import asyncpg
import jwt
import pytest
from support import run

from fleetpilot.api.auth.tokens import ALGORITHM, ISSUER, issue_access_token
from fleetpilot.api.users import UserError, create_user, list_users
from fleetpilot.settings import Settings

TOKEN = "/api/v1/auth/token"
MAX_FAILED_LOGINS = Settings.model_fields["login_max_failures"].default
ME = "/api/v1/auth/me"


def sign_in(api, username: str, password: str):
    return api.client.post(TOKEN, data={"username": username, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_sign_in_issues_a_short_lived_token_for_the_stored_role(api, password):
    response = sign_in(api, "ana", password)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["role"] == "driver" and body["expires_in"] == 30 * 60
    me = api.client.get(ME, headers=bearer(body["access_token"])).json()
    assert me == {
        "user_id": api.world.users["ana"],
        "username": "ana",
        "role": "driver",
        "person_id": "p-ana",
        "must_change_password": False,
    }
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 30 * 60 and claims["jti"]


def test_passwords_are_stored_as_argon2id_hashes_only(shared_api, password):
    hashes = [r["password_hash"] for r in shared_api.sql("SELECT password_hash FROM users")]
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    assert not any(password in h for h in hashes)


def test_wrong_password_and_unknown_user_are_refused_alike(api, password):
    wrong = sign_in(api, "ana", "not the password")
    unknown = sign_in(api, "nobody-here", password)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_repeated_failures_lock_the_account_even_for_the_right_password(api, password):
    for _ in range(MAX_FAILED_LOGINS):
        assert sign_in(api, "sam", "guess-guess-guess").status_code == 401
    locked = sign_in(api, "sam", password)
    assert locked.status_code == 401 and "locked" in locked.json()["detail"]
    row = api.sql("SELECT failed_logins, locked_until > now() AS locked FROM users WHERE username = 'sam'")[0]
    assert row["failed_logins"] == MAX_FAILED_LOGINS and row["locked"]
    # Once the lock has run out the right password works and resets the counter.
    api.sql("UPDATE users SET locked_until = now() - interval '1 second' WHERE username = 'sam'")
    assert sign_in(api, "sam", password).status_code == 200
    assert api.sql("SELECT failed_logins FROM users WHERE username = 'sam'")[0]["failed_logins"] == 0


def test_lockout_limits_come_from_the_settings(api, password):
    app = api.client.app
    app.state.settings = app.state.settings.model_copy(update={"login_max_failures": 2, "login_lockout_minutes": 3})
    assert sign_in(api, "sam", "guess-guess-guess").status_code == 401
    row = api.sql("SELECT failed_logins, locked_until FROM users WHERE username = 'sam'")[0]
    assert row["failed_logins"] == 1 and row["locked_until"] is None
    assert sign_in(api, "sam", "guess-guess-guess").status_code == 401
    refused = sign_in(api, "sam", password)
    assert refused.status_code == 401 and "locked" in refused.json()["detail"]
    minutes = api.sql("SELECT extract(epoch FROM locked_until - now()) / 60 AS m FROM users WHERE username = 'sam'")[0][
        "m"
    ]
    assert 2.5 < minutes <= 3


def test_a_failure_after_the_lock_expires_locks_again_at_once(api, password):
    api.sql(
        "UPDATE users SET failed_logins = $1, locked_until = now() - interval '1 second' WHERE username = 'dora'",
        MAX_FAILED_LOGINS,
    )
    assert sign_in(api, "dora", "another wrong guess").status_code == 401
    assert sign_in(api, "dora", password).status_code == 401  # locked again


def test_a_disabled_account_cannot_sign_in_and_its_tokens_stop_working(api, password):
    token = api.tokens["data_officer"]
    assert api.client.get(ME, headers=bearer(token)).status_code == 200
    api.sql("UPDATE users SET disabled = true WHERE username = 'dora'")
    assert sign_in(api, "dora", password).status_code == 401
    assert api.client.get(ME, headers=bearer(token)).status_code == 401


def test_logout_revokes_the_token(api, password):
    token = sign_in(api, "ana", password).json()["access_token"]
    assert api.client.post("/api/v1/auth/logout", headers=bearer(token)).json() == {"revoked": True}
    refused = api.client.get(ME, headers=bearer(token))
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    # Other tokens of the same user keep working.
    assert api.client.get(ME, headers=bearer(sign_in(api, "ana", password).json()["access_token"])).status_code == 200


def _forged(api, **changes) -> str:
    keys = api.client.app.state.token_keys
    now = datetime.now(timezone.utc)
    claims = {
        "sub": str(api.world.users["ana"]),
        "role": "driver",
        "jti": "forged",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "iss": ISSUER,
        **changes,
    }
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, keys.secret, algorithm=ALGORITHM)


def _tamper_payload(token: str, **changes) -> str:
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(changes)
    packed = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{header}.{packed}.{signature}"


def _unsigned(token: str) -> str:
    _, payload, _ = token.split(".")
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    return f"{header}.{payload}."


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda api: _forged(api, exp=datetime.now(timezone.utc) - timedelta(seconds=1)), id="expired"),
        pytest.param(lambda api: _tamper_payload(api.tokens["driver"], role="admin"), id="role-changed-in-payload"),
        pytest.param(
            lambda api: _tamper_payload(api.tokens["driver"], sub=str(api.world.users["ben"])), id="user-swapped"
        ),
        pytest.param(
            lambda api: api.tokens["driver"][:-4] + ("AAAA" if not api.tokens["driver"].endswith("AAAA") else "BBBB"),
            id="signature-altered",
        ),
        pytest.param(lambda api: _unsigned(api.tokens["admin"]), id="alg-none"),
        pytest.param(
            lambda api: jwt.encode(
                {
                    "sub": str(api.world.users["adam"]),
                    "role": "admin",
                    "jti": "x",
                    "iat": datetime.now(timezone.utc),
                    "exp": datetime.now(timezone.utc) + timedelta(minutes=5),
                    "iss": ISSUER,
                },
                "some-other-secret-of-a-sensible-length!!",
                algorithm=ALGORITHM,
            ),
            id="wrong-key",
        ),
        pytest.param(lambda api: _forged(api, iss="someone-else"), id="wrong-issuer"),
        pytest.param(lambda api: _forged(api, jti=None), id="no-jti"),
        pytest.param(lambda api: _forged(api, role="admin"), id="role-not-the-stored-one"),
        pytest.param(lambda api: _forged(api, sub="999999"), id="no-such-user"),
        pytest.param(lambda api: "not-a-jwt", id="garbage"),
    ],
)
def test_bad_tokens_are_refused_everywhere(shared_api, make):
    token = make(shared_api)
    for path in (ME, "/api/v1/me/shifts", "/api/v1/admin/users"):
        response = shared_api.client.get(path, headers=bearer(token))
        assert response.status_code == 401, (path, response.text)
        assert response.headers["www-authenticate"] == "Bearer"


def test_a_role_change_invalidates_existing_tokens(api):
    token = api.tokens["supervisor"]
    api.sql("UPDATE users SET role = 'data_officer' WHERE username = 'sam'")
    assert api.client.get(ME, headers=bearer(token)).status_code == 401


def test_a_fresh_token_of_the_right_shape_works(shared_api):
    token, _ = issue_access_token(shared_api.client.app.state.token_keys, shared_api.world.users["adam"], "admin")
    assert shared_api.client.get(ME, headers=bearer(token)).json()["role"] == "admin"


def _on_db(url, fn):
    async def body():
        conn = await asyncpg.connect(url)
        try:
            return await fn(conn)
        finally:
            await conn.close()

    return run(body())


GOOD_PASSWORD = "a long enough password"


@pytest.mark.parametrize(
    "username, role, person, new_password, message",
    [
        ("newdriver", "driver", None, GOOD_PASSWORD, "exactly one person"),
        ("newsup", "supervisor", "p-ana", GOOD_PASSWORD, "exactly one person"),
        ("newdriver", "driver", "p-nobody", GOOD_PASSWORD, "does not exist"),
        ("ana", "supervisor", None, GOOD_PASSWORD, "taken"),
        ("newdriver2", "driver", "p-ana", GOOD_PASSWORD, "already has an account"),
        ("newsup", "boss", None, GOOD_PASSWORD, "role must be one of"),
        ("newsup", "supervisor", None, "short", "characters"),
    ],
)
def test_create_user_enforces_the_account_rules(api, username, role, person, new_password, message):
    with pytest.raises(UserError, match=message):
        _on_db(api.database_url, lambda conn: create_user(conn, username, new_password, role, person))


def test_create_user_then_sign_in(api):
    user_id = _on_db(
        api.database_url, lambda conn: create_user(conn, "eve", "eve's long password", "driver", "p-zz-eve")
    )
    users = {u.username: u for u in _on_db(api.database_url, list_users)}
    assert users["eve"].user_id == user_id and users["eve"].person_id == "p-zz-eve"
    token = sign_in(api, "eve", "eve's long password").json()["access_token"]
    assert api.client.get(ME, headers=bearer(token)).json()["person_id"] == "p-zz-eve"
