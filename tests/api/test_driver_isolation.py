"""Property: whatever a driver puts in paths, query strings or bodies, no response carries
another person's data.

In the seeded world every id of another person's data contains "zz" (person ids, shift
ids), and the only raw fixes of another person on the driver's own truck lie on latitude
52.60 (the driver's are on 52.50). Hypothesis draws operations of the whole API and
parameter values from other people's ids, the driver's own ids, dates and hostile text.
"""

from __future__ import annotations

import io
import json
import zipfile
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SKIP = {("post", "/api/v1/auth/logout"), ("post", "/api/v1/auth/token")}  # would end or replace the session
EXTRA_QUERY = ["person_id", "user_id", "shift_id", "vehicle_id", "crew", "as", "subject_person_id", "role"]
OTHER_LAT = (52.59, 52.61)


def _operations(app) -> list[tuple[str, str, list[str]]]:
    spec = app.openapi()
    found = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if (method, path) not in SKIP:
                query = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
                found.append((method, path, query))
    return found


def _values(world) -> st.SearchStrategy[str]:
    others = sorted(world.others_shifts) + ["p-zz-ben", "p-zz-cai", "p-zz-dan", "truck-2", "truck-3"]
    own = sorted(world.ana_shifts) + ["p-ana", "truck-1"]
    return st.one_of(
        st.sampled_from(others),
        st.sampled_from(own),
        st.dates().map(str),
        st.integers(-10, 10**6).map(str),
        st.sampled_from(["' OR '1'='1", "%", "*", "..", "../p-zz-ben", "true", "null", "[]", "{}"]),
        st.text(max_size=20),
    )


def _walk(value, strings: list[str], numbers: list[float]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            strings.append(str(key))
            _walk(item, strings, numbers)
    elif isinstance(value, list):
        for item in value:
            _walk(item, strings, numbers)
    elif isinstance(value, str):
        strings.append(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        numbers.append(float(value))


def _leaks(response, foreign_marker: str, sent: tuple[str, ...] = ()) -> list[str]:
    """What in this response belongs to someone else. An error may echo what was sent (FastAPI's
    422 shows the input, a 404 names the id asked for); only that is not a leak."""
    if response.headers.get("content-type", "").startswith("application/zip"):
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        return [name for name in archive.namelist() if foreign_marker.encode() in archive.read(name)]
    try:
        body = json.loads(response.content)
    except ValueError:
        return [foreign_marker] if foreign_marker.encode() in response.content else []
    strings, numbers = [], []
    _walk(body, strings, numbers)
    echoes = [v for v in sent if foreign_marker in v] if response.status_code >= 400 else []
    leaks = [s for s in strings if foreign_marker in s and not any(v in s for v in echoes)]
    leaks += [str(n) for n in numbers if OTHER_LAT[0] <= n <= OTHER_LAT[1]]
    return leaks


def _request(api, role: str, data, operations, values):
    """(response, every value sent) for one drawn operation with drawn parameters."""
    method, path, query = data.draw(st.sampled_from(operations), label="operation")
    url, sent = path, []
    while "{" in url:
        name = url[url.index("{") + 1 : url.index("}")]
        sent.append(data.draw(values, label=name) or "x")
        url = url.replace("{" + name + "}", quote(sent[-1], safe=""), 1)
    names = data.draw(st.lists(st.sampled_from(query + EXTRA_QUERY), unique=True, max_size=4), label="query")
    params = {name: data.draw(values, label=name) for name in names}
    body = None
    if method in ("post", "put", "patch"):
        body = data.draw(
            st.dictionaries(
                st.sampled_from(["purpose", "person_id", "shift_id", "username", "role"]), values, max_size=3
            ),
            label="body",
        )
    sent += [*params.values(), *(body or {}).values()]
    response = api.client.request(method.upper(), url, params=params, json=body, headers=api.headers(role))
    return response, tuple(sent)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=st.data())
def test_a_driver_never_gets_another_persons_data(shared_api, data):
    response, sent = _request(shared_api, "driver", data, _operations(shared_api.client.app), _values(shared_api.world))
    assert response.status_code < 500, response.text
    assert _leaks(response, "zz", sent) == []


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=st.data())
def test_the_second_driver_never_gets_the_first_drivers_data(shared_api, data):
    # Ben's own ids carry "zz"; Ana's carry "-ana-" (shift ids) and "p-ana" (person id).
    response, sent = _request(shared_api, "ben", data, _operations(shared_api.client.app), _values(shared_api.world))
    assert response.status_code < 500, response.text
    assert _leaks(response, "-ana-", sent) == [] and _leaks(response, "p-ana", sent) == []


def test_the_markers_would_catch_a_leak(shared_api):
    """The property is not vacuous: the same checks flag what a supervisor may legitimately open."""
    response = shared_api.post(
        f"/api/v1/shifts/{sorted(shared_api.world.others_shifts)[0]}/open",
        "supervisor",
        json={"purpose": "incident 2026-1 marker check"},
    )
    assert response.status_code == 200 and _leaks(response, "zz")
    ben_track = shared_api.get(f"/api/v1/me/shifts/{shared_api.world.shifts['p-zz-ben'][0]}/track", "ben")
    assert any(leak.startswith("52.6") for leak in _leaks(ben_track, "no-such-marker"))
