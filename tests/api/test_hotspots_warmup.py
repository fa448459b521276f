"""The hotspot page's default answer is computed when the API starts; a request is answered
from it only while its state is unchanged, and only after the gate admitted the request."""

from __future__ import annotations

import time

from fleetpilot.api.hotspots import service

PAGE_DEFAULT = {"min_level": "elevated"}  # what the page asks first (kind harsh_brake, last 30 days)


def _warmed(api) -> None:
    deadline = time.monotonic() + 30
    while not api.client.app.state.warming.done():
        assert time.monotonic() < deadline, "the warm-up did not finish"
        time.sleep(0.02)
    assert api.client.app.state.warming.exception() is None


def test_the_first_request_is_served_from_the_warm_up_until_its_state_changes(api, monkeypatch):
    _warmed(api)
    computed = []
    compute = service._hotspots

    async def counting(*args, **kwargs):
        computed.append(args[2:4])
        return await compute(*args, **kwargs)

    monkeypatch.setattr(service, "_hotspots", counting)
    first = api.get("/api/v1/hotspots/cells", "supervisor", params=PAGE_DEFAULT)
    assert first.status_code == 200 and computed == []  # computed at startup
    assert (first.json()["k_min_shifts"], first.json()["k_min_people"]) == (5, 3)
    # Authorization is per request: the warmed answer is no reason to skip the gate.
    assert api.client.get("/api/v1/hotspots/cells", params=PAGE_DEFAULT).status_code == 401
    assert api.get("/api/v1/hotspots/cells", "driver", params=PAGE_DEFAULT).status_code == 403

    api.sql("UPDATE privacy_settings SET k_min_shifts = 2, k_min_people = 1")  # a changed k
    changed = api.get("/api/v1/hotspots/cells", "supervisor", params=PAGE_DEFAULT).json()
    assert computed == [("cell", "harsh_brake")] and changed["k_min_shifts"] == 2
    api.sql("UPDATE cell_exposure SET harsh_brake = harsh_brake + 1")  # new data
    api.get("/api/v1/hotspots/cells", "supervisor", params=PAGE_DEFAULT)
    assert len(computed) == 2
