"""Live positions: vehicles on duty only, recent fixes only, no people."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

LIVE = "/api/v1/live/vehicles"


def _vehicles(api) -> dict[str, dict]:
    response = api.get(LIVE, "supervisor")
    assert response.status_code == 200, response.text
    return {f["properties"]["vehicle_id"]: f for f in response.json()["features"]}


def test_only_the_vehicle_on_duty_is_shown(shared_api):
    vehicles = _vehicles(shared_api)
    assert set(vehicles) == {"truck-3"}  # truck-2 has a fresh fix but no shift: off duty is private
    truck = vehicles["truck-3"]
    assert truck["geometry"] == {"type": "Point", "coordinates": [13.41, 52.52]}
    assert truck["properties"]["route_id"] == "r-north" and 0 < truck["properties"]["age_s"] < 300
    assert "p-" not in str(truck)


def test_a_vehicle_leaves_the_map_when_its_shift_ends(api):
    api.sql("UPDATE shifts SET ends_at = now() - interval '10 seconds' WHERE shift_id = $1", api.world.live_shift)
    assert _vehicles(api) == {}


def test_fixes_from_before_the_shift_or_too_old_are_not_shown(api):
    now = datetime.now(timezone.utc)
    # The shift started 30 s ago: the fix a minute ago was off duty.
    api.sql("UPDATE shifts SET starts_at = $2 WHERE shift_id = $1", api.world.live_shift, now - timedelta(seconds=30))
    assert _vehicles(api) == {}
    # Back on duty for an hour, but the only fix is now older than the live window.
    api.sql("UPDATE shifts SET starts_at = $2 WHERE shift_id = $1", api.world.live_shift, now - timedelta(hours=1))
    api.sql("UPDATE fixes SET ts = ts - interval '10 minutes' WHERE vehicle_id = 'truck-3'")
    assert _vehicles(api) == {}
