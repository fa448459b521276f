"""Responses are gzip-compressed when the client accepts it and they are large enough."""

from __future__ import annotations

import gzip
import json
import urllib.request

from fleetpilot.api.app import GZIP_MIN_BYTES


def _get(served, path: str, token: str, accept_gzip: bool):
    headers = {"Authorization": f"Bearer {token}"}
    if accept_gzip:
        headers["Accept-Encoding"] = "gzip"
    with urllib.request.urlopen(urllib.request.Request(served.url + path, headers=headers)) as response:
        return response.headers, response.read()


def test_a_large_response_is_gzipped_when_asked_and_plain_when_not(served):
    token = served.token("sam", "supervisor")
    plain_headers, plain = _get(served, "/openapi.json", token, False)
    assert len(plain) > GZIP_MIN_BYTES and "content-encoding" not in plain_headers
    zipped_headers, zipped = _get(served, "/openapi.json", token, True)
    assert zipped_headers["content-encoding"] == "gzip" and "Accept-Encoding" in zipped_headers["vary"]
    assert len(zipped) < len(plain) / 3
    assert json.loads(gzip.decompress(zipped)) == json.loads(plain)


def test_a_small_json_answer_is_sent_as_it_is_even_when_gzip_is_accepted(served):
    headers, body = _get(served, "/api/v1/auth/me", served.token("ana", "driver"), True)
    assert len(body) < GZIP_MIN_BYTES and "content-encoding" not in headers
    assert json.loads(body)["username"] == "ana"


def test_an_api_data_response_is_gzipped(served):
    shift = served.world.track_shift
    headers, body = _get(served, f"/api/v1/me/shifts/{shift}/track", served.token("ana", "driver"), True)
    assert headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(body))["type"] == "FeatureCollection"
