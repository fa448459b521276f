"""/city carries a strong ETag from the city's version: 304 while unchanged, the new layer
after any write to streets or facilities, and the gate decides every request first."""

from __future__ import annotations

import gzip
import urllib.error
import urllib.request
from datetime import timedelta

from support import run, with_conn

from fleetpilot.api.city import service
from fleetpilot.db.importer import import_city


def _street(segment_id: str, name: str) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[13.4, 52.5], [13.41, 52.5]]},
        "properties": {
            "kind": "street",
            "segment_id": segment_id,
            "name": name,
            "road_class": "residential",
            "speed_limit_kmh": 30,
        },
    }


def _import(api, *features: dict) -> None:
    run(
        with_conn(
            api.database_url, lambda conn: import_city(conn, {"type": "FeatureCollection", "features": list(features)})
        )
    )


def _city(api, role: str | None, if_none_match: str | None = None):
    headers = {**api.headers(role), **({"If-None-Match": if_none_match} if if_none_match else {})}
    return api.client.get("/api/v1/city", headers=headers)


def _names(response) -> set[str]:
    return {f["properties"]["name"] for f in response.json()["features"]}


def test_city_is_revalidated_by_etag_and_changes_with_an_import(api):
    _import(api, _street("s-1", "Elm Street"))
    first = api.get("/api/v1/city", "supervisor")
    assert first.status_code == 200 and _names(first) == {"Elm Street"}
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert first.headers["cache-control"] == "private, no-cache"

    # Unchanged: 304 without a body, for any role that may read it (the layer is not personal).
    for role in ("supervisor", "driver", "data_officer"):
        again = _city(api, role, etag)
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert _city(api, "driver", f'"other", {etag}').status_code == 304
    assert _city(api, "driver", '"other"').status_code == 200

    # The tag is a hash of the body: a process that kept nothing gives the same one.
    service._kept.clear()
    assert _city(api, "driver", etag).status_code == 304

    # An import (new street) and a plain UPDATE by any writer: the old tag no longer matches.
    _import(api, _street("s-1", "Elm Street"), _street("s-2", "Oak Lane"))
    changed = _city(api, "driver", etag)
    assert changed.status_code == 200 and _names(changed) == {"Elm Street", "Oak Lane"}
    assert changed.headers["etag"] != etag
    api.sql("UPDATE street_segments SET name = 'Ash Road' WHERE segment_id = 's-2'")
    renamed = _city(api, "driver", changed.headers["etag"])
    assert renamed.status_code == 200 and _names(renamed) == {"Elm Street", "Ash Road"}


def test_city_is_refused_without_a_valid_token_whatever_the_etag(api):
    etag = api.get("/api/v1/city", "driver").headers["etag"]
    anonymous = _city(api, None, etag)
    assert anonymous.status_code == 401 and "etag" not in anonymous.headers
    assert api.post("/api/v1/auth/logout", "driver").status_code in (200, 204)
    revoked = _city(api, "driver", etag)
    assert revoked.status_code == 401 and "etag" not in revoked.headers


def test_hotspot_segments_follow_a_renamed_street(api):
    """Segment answers are reused per process while the streets' version is unchanged."""
    params = {"from": str(api.world.week1), "to": str(api.world.week1 + timedelta(weeks=3)), "min_passes": 1}

    def name() -> str | None:
        body = api.get("/api/v1/hotspots/segments", "data_officer", params=params).json()
        return {u["unit_id"]: u["name"] for u in body["units"]}["seg-a"]

    _import(api, _street("seg-a", "Elm Street"))
    assert name() == name() == "Elm Street"
    api.sql("UPDATE street_segments SET name = 'Ash Road' WHERE segment_id = 'seg-a'")
    assert name() == "Ash Road"


def _raw_city(served, accept_encoding: str | None, if_none_match: str | None = None):
    """/city as a client that does not decode gzip itself sees it: (status, headers, bytes)."""
    headers = {"Authorization": f"Bearer {served.token('ana', 'driver')}"}
    if accept_encoding is not None:
        headers["Accept-Encoding"] = accept_encoding
    if if_none_match:
        headers["If-None-Match"] = if_none_match
    request = urllib.request.Request(served.url + "/api/v1/city", headers=headers)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def test_the_city_is_sent_gzipped_when_asked_with_its_own_tag(served):
    """Browsers ask for gzip: the layer's bytes compressed once per version, a strong tag of their
    own (a different representation), Vary on both; without gzip in Accept-Encoding (the
    middleware's test): the plain body."""
    streets = [_street(f"s-{i}", f"Street {i}") for i in range(20)]
    city = {"type": "FeatureCollection", "features": streets}
    run(with_conn(served.app.state.settings.database_url, lambda conn: import_city(conn, city)))
    status, plain_headers, plain = _raw_city(served, None)
    assert status == 200 and "content-encoding" not in plain_headers
    assert plain_headers["vary"] == "Accept-Encoding"  # the middleware's, as on any answer of its size
    status, headers, zipped = _raw_city(served, "gzip, deflate, br")
    assert status == 200 and headers["content-encoding"] == "gzip" and headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(zipped) == plain and len(zipped) < len(plain)
    etag = headers["etag"]
    assert etag != plain_headers["etag"] and etag.startswith('"') and etag.endswith('"')
    status, headers, _ = _raw_city(served, "gzip", etag)
    assert status == 304 and headers["vary"] == "Accept-Encoding" and headers["etag"] == etag
    assert _raw_city(served, None, plain_headers["etag"])[0] == 304
    assert _raw_city(served, None, etag)[0] == 200  # the other representation's tag
    for refused in ("identity", "br", "*"):
        status, headers, body = _raw_city(served, refused)
        assert status == 200 and "content-encoding" not in headers and body == plain, refused
    # Made once: a second request is sent the very same bytes, from the one kept entry.
    assert _raw_city(served, "gzip")[2] == zipped and list(service._gzipped.values()) == [zipped]
