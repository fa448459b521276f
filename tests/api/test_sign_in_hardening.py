"""Issue 13, item 4: sign-in hardened (token versions, atomic lockout, one answer for every
refusal, common passwords, security headers, body limits, purposes in words, finite numbers).

Each test here failed on the code before the fix (see the issue's findings)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from support import run

from fleetpilot.api.auth import service as auth_service
from fleetpilot.api.auth.passwords import WeakPassword, check_password_rules, hash_password
from fleetpilot.api.auth.service import Lockout, SignInRefused
from fleetpilot.api.auth.service import sign_in as service_sign_in
from fleetpilot.api.auth.tokens import TokenKeys

TOKEN = "/api/v1/auth/token"
ME = "/api/v1/auth/me"
MY_SHIFTS = "/api/v1/me/shifts"


def sign_in(api, username: str, password: str):
    return api.client.post(TOKEN, data={"username": username, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- tokens end at password change, reset, role change and logout ---------------------------


def test_a_token_ends_when_its_owner_changes_the_password(api, password):
    old = sign_in(api, "ana", password).json()["access_token"]
    other = sign_in(api, "ana", password).json()["access_token"]
    changed = api.client.post(
        "/api/v1/auth/password",
        json={"current_password": password, "new_password": "a fresh and long passphrase"},
        headers=bearer(old),
    )
    assert changed.status_code == 200, changed.text
    for token in (old, other):
        assert api.client.get(ME, headers=bearer(token)).status_code == 401
    assert api.client.get(ME, headers=bearer(changed.json()["access_token"])).status_code == 200
    assert sign_in(api, "ana", password).status_code == 401
    assert sign_in(api, "ana", "a fresh and long passphrase").status_code == 200


def test_a_token_ends_when_an_admin_resets_the_password(api, password):
    token = sign_in(api, "ana", password).json()["access_token"]
    assert api.client.get(MY_SHIFTS, headers=bearer(token)).status_code == 200
    reset = api.client.patch(
        f"/api/v1/admin/users/{api.world.users['ana']}",
        json={"password": "an admin chosen passphrase"},
        headers=api.headers("admin"),
    )
    assert reset.status_code == 200, reset.text
    assert api.client.get(MY_SHIFTS, headers=bearer(token)).status_code == 401


def test_a_token_ends_when_the_role_changes_even_if_it_changes_back(api, password):
    token = sign_in(api, "sam", password).json()["access_token"]
    admin = api.headers("admin")
    for role in ("data_officer", "supervisor"):
        assert api.client.patch(f"/api/v1/admin/users/{api.world.users['sam']}", json={"role": role}, headers=admin)
    assert api.client.get(ME, headers=bearer(token)).status_code == 401


def test_a_token_without_a_version_claim_is_refused(shared_api):
    import jwt

    from fleetpilot.api.auth.tokens import ALGORITHM, ISSUER

    claims = jwt.decode(shared_api.tokens["driver"], options={"verify_signature": False})
    del claims["ver"]
    claims["iss"] = ISSUER
    forged = jwt.encode(claims, shared_api.client.app.state.token_keys.secret, algorithm=ALGORITHM)
    assert shared_api.client.get(ME, headers=bearer(forged)).status_code == 401


# --- lockout counted atomically; one answer and one verification for every refusal -----------


def test_parallel_sign_ins_cannot_check_more_passwords_than_the_limit(api, monkeypatch):
    """20 guesses at once: at most `max_failures` of them reach a real password check."""
    checked: list[bool] = []
    real_verify = auth_service.verify_password

    async def counting_verify(stored_hash, password):
        checked.append(stored_hash is not None)
        return await real_verify(stored_hash, password)

    monkeypatch.setattr(auth_service, "verify_password", counting_verify)
    keys = TokenKeys("secret-for-this-test", api.client.app.state.token_keys.lifetime)
    lockout = Lockout(5, 15)

    async def attempt(url):
        conn = await asyncpg.connect(url)
        try:
            await service_sign_in(conn, keys, lockout, "sam", "a wrong guess at sam's password")
        except SignInRefused:
            return False
        finally:
            await conn.close()
        return True

    async def all_at_once():
        return await asyncio.gather(*(attempt(api.database_url) for _ in range(20)))

    assert not any(run(all_at_once()))
    assert len(checked) == 20  # every attempt verifies once (a dummy hash when refused early)
    assert sum(checked) <= lockout.max_failures
    assert api.sql("SELECT locked_until > now() AS locked FROM users WHERE username = 'sam'")[0]["locked"]


def test_unknown_wrong_locked_and_disabled_get_the_same_answer_after_one_verification(api, password, monkeypatch):
    calls: list[str | None] = []
    real_verify = auth_service.verify_password

    async def spy(stored_hash, candidate):
        calls.append(stored_hash)
        return await real_verify(stored_hash, candidate)

    monkeypatch.setattr(auth_service, "verify_password", spy)
    api.sql("UPDATE users SET locked_until = now() + interval '10 minutes', failed_logins = 5 WHERE username = 'sam'")
    api.sql("UPDATE users SET disabled = true WHERE username = 'dora'")
    answers = {
        "unknown": sign_in(api, "nobody-at-all", password),
        "wrong": sign_in(api, "ana", "not ana's password at all"),
        "locked": sign_in(api, "sam", password),
        "disabled": sign_in(api, "dora", password),
    }
    assert {r.status_code for r in answers.values()} == {401}
    assert len({r.text for r in answers.values()}) == 1, {k: r.text for k, r in answers.items()}
    assert "locked" not in answers["locked"].json()["detail"].split(" or ")[0]
    assert len(calls) == 4  # one Argon2 verification on every path: timing tells nothing


# --- new passwords: at least 12 characters, not a common/breached one -----------------------


@pytest.mark.parametrize("weak", ["12345678", "password", "short-pw1", "password1234", "qwertyuiop123"])
def test_common_or_short_passwords_are_refused(weak):
    with pytest.raises(WeakPassword):
        check_password_rules(weak)
    with pytest.raises(WeakPassword):
        run(hash_password(weak))


def test_a_long_uncommon_password_is_accepted():
    check_password_rules("violet tractor umbrella 42")


def test_the_admin_api_refuses_a_common_password(api):
    admin = api.headers("admin")
    created = api.client.post(
        "/api/v1/admin/users",
        json={"username": "newsup", "password": "password1234", "role": "supervisor"},
        headers=admin,
    )
    assert created.status_code == 409 and "common" in created.text
    reset = api.client.patch(
        f"/api/v1/admin/users/{api.world.users['sam']}", json={"password": "12345678"}, headers=admin
    )
    assert reset.status_code == 422


# --- security headers on every page and API response ----------------------------------------

HEADER_PATHS = [
    ("/app/", None),
    ("/app/login.html", None),
    ("/app/js/api.js", None),
    ("/transparency", None),
    ("/health", None),
    ("/api/v1/auth/me", "driver"),
    ("/api/v1/auth/me", None),  # a 401
    ("/api/v1/no-such-path", None),  # a 404
    ("/docs", None),
    ("/openapi.json", None),
]


@pytest.mark.parametrize("path, role", HEADER_PATHS)
def test_every_response_carries_the_security_headers(shared_api, path, role):
    response = shared_api.get(path, role, follow_redirects=False)
    csp = response.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp, (path, dict(response.headers))
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert "unsafe-inline" not in script_src and "unsafe-eval" not in script_src
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"


def test_the_dashboards_have_no_inline_scripts():
    """The pages' CSP forbids inline scripts, so none may exist (handlers or blocks)."""
    import re

    from fleetpilot.dashboards.assets import STATIC_DIR

    for page in STATIC_DIR.glob("*.html"):
        html = page.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), page.name
        assert not re.search(r"\son[a-z]+\s*=", html), page.name
        assert "javascript:" not in html, page.name


# --- request bodies limited before parsing ---------------------------------------------------


def test_a_large_body_is_refused_with_413_before_sign_in_or_parsing(shared_api):
    big = b"x" * (2 * 1024 * 1024)
    for path in (TOKEN, "/api/v1/admin/users", "/api/v1/whatif/questions/any"):
        response = shared_api.client.post(path, content=big, headers={"content-type": "application/json"})
        assert response.status_code == 413, (path, response.status_code)
        assert response.headers["x-content-type-options"] == "nosniff"


def test_a_streamed_body_without_length_is_cut_off_at_the_limit(shared_api):
    def chunks():
        for _ in range(64):
            yield b"y" * 65536

    response = shared_api.client.post("/api/v1/admin/users", content=chunks(), headers=shared_api.headers("admin"))
    assert response.status_code == 413


def test_route_plans_may_be_larger_than_small_forms(shared_api):
    from fleetpilot.api.security import body_limit

    assert body_limit("/api/v1/routes/plans") > body_limit("/api/v1/auth/token") >= 1024


# --- purposes made of words ------------------------------------------------------------------


@pytest.mark.parametrize(
    "purpose",
    [
        "\u200b" * 20,  # zero-width spaces
        "\u200b\u200c\u200d\ufeff" * 5 + "x",
        "incident\u202e 2024-113",  # a direction override inside words
        "12345678 -- 2024/113",  # no words at all
        "\u00a0\u2003\u3000" * 6,  # spaces of other kinds only
    ],
)
def test_a_purpose_without_words_or_with_invisible_characters_is_refused(api, purpose):
    shift = api.world.shifts["p-zz-ben"][0]
    response = api.post(f"/api/v1/shifts/{shift}/open", "supervisor", json={"purpose": purpose})
    assert response.status_code == 422, response.text
    assert api.sql("SELECT count(*) AS n FROM audit_log WHERE action = 'open_shift'")[0]["n"] == 0


def test_a_purpose_is_stored_nfkc_normalised(api):
    shift = api.world.shifts["p-zz-ben"][0]
    response = api.post(f"/api/v1/shifts/{shift}/open", "supervisor", json={"purpose": "ｉｎｃｉｄｅｎｔ 2024-113"})
    assert response.status_code == 200, response.text
    stored = {r["purpose"] for r in api.sql("SELECT purpose FROM audit_log WHERE action = 'open_shift'")}
    assert stored == {"incident 2024-113"}


# --- non-finite numbers are 422 everywhere ---------------------------------------------------


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_json_numbers_are_refused_on_every_body_route(shared_api, constant):
    body = f'{{"params": {{"minutes": {constant}}}, "lon": {constant}, "lat": 1, "radius_m": 5, "name": "zone"}}'
    for path, role in (
        ("/api/v1/whatif/scenarios/start_time", "data_officer"),
        ("/api/v1/admin/privacy/zones", "admin"),
    ):
        response = shared_api.client.post(
            path, content=body, headers={**shared_api.headers(role), "content-type": "application/json"}
        )
        assert response.status_code == 422, (path, response.text)


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity"])
def test_a_non_finite_what_if_parameter_is_a_bad_request_not_a_crash(value):
    from fleetpilot.api.whatif.service import WhatIfError, completed_params

    with pytest.raises(WhatIfError, match="finite"):
        completed_params("scenario", "start_time", {"minutes": value})


def test_a_what_if_zone_with_non_finite_corners_is_refused():
    from fleetpilot.api.whatif.service import WhatIfError, completed_params

    zone = {"type": "Polygon", "coordinates": [[["nan", 1], [1, 1], [1, 2], ["nan", 1]]]}
    with pytest.raises(WhatIfError, match="finite"):
        completed_params("scenario", "frequency", {"zone": zone})
