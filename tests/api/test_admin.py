"""Admin: users, devices and vehicles, privacy settings and zones, the retention job, the audit log."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

ADMIN = "/api/v1/admin"


def _put(api, path: str, body: dict):
    return api.client.put(path, headers=api.headers("admin"), json=body)


def _patch(api, path: str, body: dict):
    return api.client.patch(path, headers=api.headers("admin"), json=body)


def test_users_are_created_listed_changed_and_audited(api):
    created = api.post(
        f"{ADMIN}/users",
        "admin",
        json={"username": "cai", "password": "cai's long password", "role": "driver", "person_id": "p-zz-cai"},
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert (user["role"], user["person_id"], user["disabled"]) == ("driver", "p-zz-cai", False)
    assert "password" not in created.text
    listed = {u["username"] for u in api.get(f"{ADMIN}/users", "admin").json()}
    assert listed == {"ana", "ben", "sam", "dora", "adam", "cai"}
    duplicate = api.post(
        f"{ADMIN}/users", "admin", json={"username": "cai", "password": "another long one", "role": "supervisor"}
    )
    assert duplicate.status_code == 409
    disabled = _patch(api, f"{ADMIN}/users/{user['user_id']}", {"disabled": True})
    assert disabled.json()["disabled"] is True
    assert _patch(api, f"{ADMIN}/users/{user['user_id']}", {"role": "supervisor"}).status_code == 409
    assert _patch(api, f"{ADMIN}/users/999999", {"disabled": True}).status_code == 404
    actions = [r["action"] for r in api.sql("SELECT action FROM audit_log ORDER BY audit_id")]
    assert actions == ["create_user", "change_user"]


def test_admin_unlocks_a_locked_account_and_resets_a_password(api, password):
    api.sql("UPDATE users SET failed_logins = 9, locked_until = now() + interval '1 hour' WHERE username = 'sam'")
    sign_in = lambda pw: api.client.post("/api/v1/auth/token", data={"username": "sam", "password": pw})  # noqa: E731
    assert sign_in(password).status_code == 401
    changed = _patch(api, f"{ADMIN}/users/{api.world.users['sam']}", {"unlock": True, "password": "a brand new one"})
    assert changed.json()["locked_until"] is None
    assert sign_in(password).status_code == 401 and sign_in("a brand new one").status_code == 200
    detail = api.sql("SELECT detail FROM audit_log WHERE action = 'change_user'")[0]["detail"]
    assert "a brand new one" not in detail and '"password": "reset' in detail


def test_vehicles_and_devices(api):
    assert api.post(f"{ADMIN}/vehicles", "admin", json={"vehicle_id": "truck-9", "city": "metro"}).status_code == 201
    assert api.post(f"{ADMIN}/vehicles", "admin", json={"vehicle_id": "truck-9", "city": "metro"}).status_code == 409
    device = api.post(
        f"{ADMIN}/devices", "admin", json={"device_id": "dev-9", "vehicle_id": "truck-9", "mqtt_username": "dev9"}
    )
    assert device.status_code == 201 and device.json()["vehicle_id"] == "truck-9"
    assert (
        api.post(f"{ADMIN}/devices", "admin", json={"device_id": "dev-10", "vehicle_id": "truck-404"}).status_code
        == 409
    )
    moved = _patch(api, f"{ADMIN}/devices/dev-9", {"vehicle_id": "truck-1"})
    assert moved.json()["vehicle_id"] == "truck-1" and moved.json()["mqtt_username"] == "dev9"
    assert _patch(api, f"{ADMIN}/devices/nope", {"vehicle_id": "truck-1"}).status_code == 404
    assert {d["device_id"] for d in api.get(f"{ADMIN}/devices", "admin").json()} == {"dev-1", "dev-2", "dev-9"}
    assert {v["vehicle_id"] for v in api.get(f"{ADMIN}/vehicles", "admin").json()} >= {"truck-1", "truck-9"}


def test_privacy_settings_change_the_transparency_page_and_are_audited(api):
    before = api.get(f"{ADMIN}/privacy", "admin").json()
    assert (before["retention_days"], before["k_min_shifts"], before["k_min_people"]) == (90, 5, 3)
    changed = _put(
        api, f"{ADMIN}/privacy", {"retention_days": 45, "k_min_shifts": 8, "k_min_people": 4, "zone_policy": "drop"}
    )
    assert changed.status_code == 200 and changed.json()["updated_by"] == "adam"
    facts = api.get("/api/v1/transparency", None).json()
    assert (facts["retention_days"], facts["k_min_shifts"], facts["k_min_people"], facts["zone_policy"]) == (
        45,
        8,
        4,
        "drop",
    )
    page = api.get("/transparency", None).text
    assert "45 days" in page and "8 shifts" in page and "4\ndifferent people" in page
    detail = api.sql("SELECT detail FROM audit_log WHERE action = 'change_privacy_settings'")[0]["detail"]
    assert '"retention_days": 90' in detail and '"retention_days": 45' in detail


def test_k_below_two_is_refused(api):
    body = {"retention_days": 30, "k_min_shifts": 1, "k_min_people": 3, "zone_policy": "snap"}
    assert _put(api, f"{ADMIN}/privacy", body).status_code == 422
    assert api.get(f"{ADMIN}/privacy", "admin").json()["k_min_shifts"] == 5


def test_privacy_zones(api):
    zone = api.post(
        f"{ADMIN}/privacy/zones", "admin", json={"name": "break room", "lon": 13.4, "lat": 52.5, "radius_m": 50}
    )
    assert zone.status_code == 201
    assert api.get("/api/v1/transparency", None).json()["privacy_zones"] == 1
    assert (
        api.post(
            f"{ADMIN}/privacy/zones", "admin", json={"name": "x", "lon": 13.4, "lat": 52.5, "radius_m": 50_000}
        ).status_code
        == 422
    )
    zone_id = zone.json()["zone_id"]
    assert api.client.delete(f"{ADMIN}/privacy/zones/{zone_id}", headers=api.headers("admin")).status_code == 204
    assert api.client.delete(f"{ADMIN}/privacy/zones/{zone_id}", headers=api.headers("admin")).status_code == 404
    assert api.get(f"{ADMIN}/privacy/zones", "admin").json() == []


def test_retention_removes_old_raw_fixes_and_keeps_rollups(api):
    now = datetime.now(timezone.utc)
    old = now - timedelta(days=100)
    # One old day with its own partition, one old fix in the default partition, one recent fix.
    api.sql("SELECT fleetpilot_ensure_partitions('fixes', $1::date, $1::date)", old.date())
    api.sql("INSERT INTO shifts VALUES ('old-ana', 'truck-1', 'r-north', 1, $1, $2)", old, old + timedelta(hours=8))
    api.sql("INSERT INTO shift_crew VALUES ('old-ana', 'p-ana')")
    api.sql(
        "INSERT INTO shift_metrics (shift_id, vehicle_id, route_id, day, fixes, distance_m) "
        "VALUES ('old-ana', 'truck-1', 'r-north', $1, 2, 1000)",
        old.date(),
    )
    api.sql_many(
        "INSERT INTO fixes (vehicle_id, ts, lon, lat) VALUES ('truck-1', $1, 13.4, 52.5)",
        [(old + timedelta(minutes=m),) for m in range(2)] + [(now - timedelta(days=200),)],
    )
    raw_before = api.sql("SELECT count(*) AS n FROM fixes")[0]["n"]
    _put(api, f"{ADMIN}/privacy", {"retention_days": 60, "k_min_shifts": 5, "k_min_people": 3, "zone_policy": "snap"})

    result = api.post(f"{ADMIN}/retention/run", "admin").json()

    assert result["dropped_partitions"]["fixes"] >= 1
    cutoff = datetime.fromisoformat(result["cutoff"])
    assert abs((now - cutoff) - timedelta(days=60)) < timedelta(minutes=5)
    assert api.sql("SELECT count(*) AS n FROM fixes WHERE ts < $1", cutoff)[0]["n"] == 0
    assert api.sql("SELECT count(*) AS n FROM fixes")[0]["n"] == raw_before - 3
    # Rollups stay: the old shift still has its metrics, and the driver still sees them.
    assert api.sql("SELECT count(*) AS n FROM shift_metrics WHERE shift_id = 'old-ana'")[0]["n"] == 1
    shift = api.get("/api/v1/me/shifts/old-ana", "driver").json()
    assert shift["metrics"]["distance_km"] == 1.0
    assert api.sql("SELECT action FROM audit_log")[-1]["action"] == "run_retention"


def test_audit_log_browsing(api):
    api.post(
        "/api/v1/shifts/" + api.world.track_shift + "/open", "supervisor", json={"purpose": "incident 2026-7 review"}
    )
    entries = api.get(f"{ADMIN}/audit", "admin", params={"person_id": "p-ana"}).json()
    assert [(e["actor"], e["action"], e["purpose"]) for e in entries] == [
        ("sam", "open_shift", "incident 2026-7 review")
    ]
    assert api.get(f"{ADMIN}/audit", "admin", params={"action": "nothing"}).json() == []


def test_messages_held_for_clock_skew_are_listed_and_replayed_by_an_admin_with_audit(api):
    """Decision 0014: counts and skews only in the listing; the replay runs the ingest pipeline."""
    now = datetime.now(timezone.utc)
    now_ms = int(now.timestamp() * 1000)
    ahead_ms = 600_000
    api.sql("INSERT INTO vehicles (vehicle_id, city) VALUES ('truck-7', 'metro')")
    api.sql(
        "INSERT INTO shifts (shift_id, vehicle_id, starts_at, ends_at) VALUES ('s-7', 'truck-7', $1, $2)",
        now - timedelta(hours=1),
        now + timedelta(hours=1),
    )
    body = json.dumps(
        {
            "v": 1,
            "vid": "truck-7",
            "seq": 1,
            "sent": now_ms + ahead_ms,
            "fixes": [[now_ms - 1000 + ahead_ms, -96.8, 32.78, 5.0, 90.0, 0.9]],
        }
    ).encode()
    api.sql(
        "INSERT INTO skew_held (vehicle_id, received_at, topic, payload, payload_sha256, skew_ms) "
        "VALUES ('truck-7', $1, 'fleet/metro/truck-7/telemetry', $2, sha256($2), $3)",
        now,
        body,
        ahead_ms,
    )
    assert api.get(f"{ADMIN}/skew-held", "supervisor").status_code == 403
    [held] = api.get(f"{ADMIN}/skew-held", "admin").json()
    assert (held["vehicle_id"], held["held"], held["held_skew_s"]) == ("truck-7", 1, 600.0)
    assert "payload" not in held and "lon" not in str(held)
    assert api.post(f"{ADMIN}/vehicles/truck-7/skew-replay", "supervisor", json={}).status_code == 403
    assert api.post(f"{ADMIN}/vehicles/truck-404/skew-replay", "admin", json={}).status_code == 404
    replayed = api.post(f"{ADMIN}/vehicles/truck-7/skew-replay", "admin", json={})
    assert replayed.status_code == 200, replayed.text
    out = replayed.json()
    assert (out["replayed"], out["fixes_stored"], out["offset_s"], out["measured"]) == (1, 1, 600.0, True)
    stored = api.sql("SELECT (extract(epoch FROM ts) * 1000)::bigint AS t FROM fixes WHERE vehicle_id = 'truck-7'")
    assert [r["t"] for r in stored] == [now_ms - 1000]
    assert api.get(f"{ADMIN}/skew-held", "admin").json() == []
    [audit] = api.sql("SELECT actor_role, detail FROM audit_log WHERE action = 'replay_skew_held'")
    assert audit["actor_role"] == "admin" and '"fixes_stored": 1' in audit["detail"]
    facts = api.get("/api/v1/transparency", None).json()
    assert facts["skew_hold_hours"] == 48
    assert any("clock" in item["what"] and item["kept"].startswith("48 hours") for item in facts["collected"])
