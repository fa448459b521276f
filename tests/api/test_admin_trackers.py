"""Admin binds real trackers (issue 17): a Traccar identifier or an OwnTracks <user>/<device>
to a truck, once; the binding shows in the device list."""

from __future__ import annotations

ADMIN = "/api/v1/admin/devices"


def test_admin_binds_tracker_identities(api):
    traccar = {"device_id": "trk-1", "vehicle_id": "truck-1", "dialect": "traccar", "external_id": "864275071234567"}
    made = api.post(ADMIN, "admin", json=traccar)
    assert made.status_code == 201 and (made.json()["dialect"], made.json()["external_id"]) == (
        "traccar",
        "864275071234567",
    )
    again = api.post(ADMIN, "admin", json={**traccar, "device_id": "trk-2"})
    assert again.status_code == 409  # one identity, one vehicle
    phone = {"device_id": "ot-1", "vehicle_id": "truck-1", "dialect": "owntracks", "external_id": "ana/phone1"}
    assert api.post(ADMIN, "admin", json=phone).status_code == 201
    for bad in (
        {"device_id": "x-1", "vehicle_id": "truck-1", "dialect": "traccar", "external_id": ""},  # no identity
        {"device_id": "x-2", "vehicle_id": "truck-1", "dialect": "owntracks", "external_id": "ana"},  # not user/device
        {"device_id": "x-3", "vehicle_id": "truck-1", "dialect": "v1", "external_id": "123"},
        {"device_id": "x-4", "vehicle_id": "truck-1", "dialect": "gt06", "external_id": "123"},
    ):
        assert api.post(ADMIN, "admin", json=bad).status_code == 422, bad
    assert api.post(ADMIN, "supervisor", json={**phone, "device_id": "ot-2", "external_id": "bob/p"}).status_code == 403
    listed = {d["device_id"]: (d["dialect"], d["external_id"]) for d in api.get(ADMIN, "admin").json()}
    assert listed["trk-1"] == ("traccar", "864275071234567") and listed["ot-1"] == ("owntracks", "ana/phone1")
    assert listed["dev-1"] == ("v1", None)


def test_admin_sees_each_units_clock_skew(api):
    """The ingest stores each unit's clock skew (issue 19); the admin's device list shows it."""
    import asyncpg
    from support import run

    async def skew() -> None:
        conn = await asyncpg.connect(api.database_url)
        try:
            await conn.execute(
                "UPDATE devices SET clock_skew_s = 600, clock_checked_at = now() WHERE device_id = 'dev-1'"
            )
        finally:
            await conn.close()

    run(skew())
    listed = {d["device_id"]: d for d in api.get(ADMIN, "admin").json()}
    assert listed["dev-1"]["clock_skew_s"] == 600 and listed["dev-1"]["clock_checked_at"]
    assert all(d["clock_skew_s"] is None for k, d in listed.items() if k != "dev-1")
