"""Validation against protocol v1: reasons, the fast path's soundness, semantic checks."""

from __future__ import annotations

import json

import fastjsonschema
import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetpilot.ingest.validate import (
    MAX_PAYLOAD_BYTES,
    SCHEMA_PATH,
    Events,
    Rejected,
    Status,
    Telemetry,
    Validator,
)
from fleetsim.faults import hostile_payload

NOW = 1_795_155_600_000
OLDEST = NOW - 90 * 86_400_000
SCHEMA = json.loads(SCHEMA_PATH.read_text())
FAST = Validator()
BY_SCHEMA = {
    name: fastjsonschema.compile({"definitions": SCHEMA["definitions"], "$ref": f"#/definitions/{name}"})
    for name in ("telemetry", "events", "status")
}


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator()


def tel(**changes) -> dict:
    body = {
        "v": 1,
        "vid": "truck-007",
        "seq": 1042,
        "sent": NOW,
        "fixes": [
            [NOW - 2000, -96.8197798, 32.7799071, 12.52, 87.4, 0.9],
            [NOW - 1000, -96.81964, 32.77991, 12.6, 87.9, 0.9],
        ],
    }
    body.update(changes)
    return body


def ev(**changes) -> dict:
    body = {
        "v": 1,
        "vid": "truck-007",
        "seq": 1043,
        "sent": NOW,
        "events": [{"t": NOW - 500, "k": "harsh_brake", "lon": -96.8, "lat": 32.78, "mag": 5.21, "spd": 14.5}],
    }
    body.update(changes)
    return body


def check(v: Validator, body, channel: str = "telemetry", vid: str = "truck-007"):
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    return v.check(vid, channel, payload, NOW, OLDEST)


def test_valid_messages_of_each_channel(validator):
    t = check(validator, tel())
    assert isinstance(t, Telemetry) and t.seq == 1042 and len(t.fixes) == 2 and not t.priv
    assert (t.t_min, t.t_max) == (NOW - 2000, NOW - 1000)
    e = check(validator, ev(priv=True), "events")
    assert isinstance(e, Events) and e.priv and e.events[0]["k"] == "harsh_brake"
    # Ordinary messages take the fast path (the compiled schema is ~35 µs per fix).
    assert validator._fast_telemetry(tel()) is not None and validator._fast_events(ev()) is not None
    s = check(validator, {"v": 1, "vid": "truck-007", "seq": 3, "state": "offline", "t": NOW, "fw": "x/1"}, "status")
    assert s == Status("truck-007", 3, False, NOW, "x/1")


def test_nulls_for_unknown_speed_heading_hdop(validator):
    assert isinstance(check(validator, tel(fixes=[[NOW, 1.0, 2.0, None, None, None]])), Telemetry)


@pytest.mark.parametrize(
    "body, reason",
    [
        (tel(v=2), "bad_version"),
        (tel(v="1"), "wrong_type"),
        (tel(v=True), "wrong_type"),
        (tel(seq="12"), "wrong_type"),
        (tel(fixes=[[NOW, "west", 32.7, 1.0, 2.0, 0.9]]), "wrong_type"),
        (tel(fixes=[[NOW, True, 32.7, 1.0, 2.0, 0.9]]), "wrong_type"),  # a boolean is not a number
        ([1, 2, 3], "wrong_type"),
        (tel(fixes=[[NOW, 200.0, 32.7, 1.0, 2.0, 0.9]]), "out_of_range"),
        (tel(fixes=[[NOW, -96.8, -95.0, 1.0, 2.0, 0.9]]), "out_of_range"),
        (tel(fixes=[[NOW, -96.8, 32.7, -3.0, 2.0, 0.9]]), "out_of_range"),
        (tel(fixes=[[NOW, -96.8, 32.7, 101.0, 2.0, 0.9]]), "out_of_range"),  # 360 km/h is not a garbage truck
        (tel(fixes=[[NOW, -96.8, 32.7, 1.0, 360.0, 0.9]]), "out_of_range"),
        (tel(fixes=[[NOW, -96.8, 32.7, 1.0, 2.0, -1.0]]), "out_of_range"),
        (tel(sent=5), "out_of_range"),
        (tel(fixes=[]), "schema"),
        (tel(extra=1), "schema"),
        (tel(fixes=[[NOW, -96.8, 32.7, 1.0, 2.0]]), "schema"),
        ({k: v for k, v in tel().items() if k != "seq"}, "schema"),
        (tel(vid="truck-008"), "foreign_vid"),
        (tel(fixes=[[NOW + 301_000, -96.8, 32.7, 1.0, 2.0, 0.9]]), "future_time"),
        # The unit's clock 10 min ahead: `sent` is ahead as much as the fix, the data is fine.
        (tel(sent=NOW + 600_000, fixes=[[NOW + 599_000, -96.8, 32.7, 1.0, 2.0, 0.9]]), "clock_skew"),
        (tel(fixes=[[OLDEST - 1, -96.8, 32.7, 1.0, 2.0, 0.9]]), "expired"),
    ],
)
def test_telemetry_rejects(validator, body, reason):
    result = check(validator, body)
    assert isinstance(result, Rejected) and result.reason == reason, result


@pytest.mark.parametrize(
    "body, reason",
    [
        (ev(events=[{"t": NOW, "k": "speeding", "lon": 1.0, "lat": 2.0, "mag": 1.0}]), "schema"),
        (ev(events=[{"t": NOW, "k": "harsh_brake", "lon": 1.0, "lat": 2.0}]), "schema"),
        (ev(events=[{"t": NOW, "k": "harsh_brake", "lon": 1.0, "lat": 2.0, "mag": -1}]), "out_of_range"),
        (ev(events=[{"t": NOW, "k": "harsh_brake", "lon": 1.0, "lat": 2.0, "mag": "big"}]), "wrong_type"),
        (ev(vid="truck-1"), "foreign_vid"),
    ],
)
def test_event_rejects(validator, body, reason):
    result = check(validator, body, "events")
    assert isinstance(result, Rejected) and result.reason == reason, result


def test_size_and_json_limits(validator):
    big = tel(fixes=[[NOW - i, -96.8, 32.7, 1.0, 2.0, 0.9] for i in range(3600)])
    assert isinstance(check(validator, big), Telemetry)  # 3600 fixes are allowed …
    assert check(validator, b" " * (MAX_PAYLOAD_BYTES + 1)).reason == "too_large"  # … but not 256 KiB + 1
    assert check(validator, b'{"v":1,').reason == "bad_json"
    assert check(validator, b"\xff\xfe").reason == "bad_json"
    assert check(validator, b'{"v":1,"x":NaN}').reason == "bad_json"


def test_integral_floats_are_accepted_as_integers_and_normalised(validator):
    # Valid JSON Schema integers the fast path does not take: the compiled schema decides.
    result = check(validator, tel(seq=12.0, sent=float(NOW), fixes=[[float(NOW), 1, 2, 3, 4, 5]]))
    assert isinstance(result, Telemetry)
    assert type(result.seq) is int and type(result.fixes[0][0]) is int and result.fixes[0][0] == NOW


@pytest.mark.parametrize(
    "kind, reason",
    [
        ("bad_json", "bad_json"),
        ("wrong_types", "wrong_type"),
        ("out_of_range", "out_of_range"),
        ("huge", "too_large"),
        ("foreign_vid", "foreign_vid"),
        ("bad_version", "bad_version"),
    ],
)
def test_every_hostile_payload_of_the_simulator_is_rejected_with_its_reason(validator, kind, reason):
    rng = np.random.default_rng(1)
    for _ in range(20):
        channel, payload = hostile_payload(kind, "truck-007", "truck-008", NOW - 1000, NOW, rng)
        result = validator.check("truck-007", channel, payload, NOW, OLDEST)
        assert isinstance(result, Rejected) and result.reason == reason


# The fast path must never accept what the schema rejects. Hypothesis builds messages that
# are mostly valid, with one value in twenty replaced by something at or past an edge (wrong
# type, out of range, integral float, boolean, null, missing or extra key), and compares.


def mostly(valid, edge):
    return st.integers(0, 19).flatmap(lambda i: edge if i == 0 else valid)


anything = st.one_of(
    st.floats(allow_nan=False),
    st.integers(-(10**14), 10**14),
    st.booleans(),
    st.none(),
    st.text(max_size=2),
    st.lists(st.integers(), max_size=1),
)
times = mostly(
    st.integers(946_684_800_000, 4_102_444_800_000),
    st.one_of(st.sampled_from([946_684_799_999, 4_102_444_800_001, 1.7e12, True]), anything),
)


def ranged(lo, hi, *, nullable=False, exclusive_hi=False):
    top = hi - 1e-9 if exclusive_hi else hi
    valid = st.one_of(st.floats(lo, top), st.integers(int(lo), int(top)), st.sampled_from([lo, top]))
    edges = st.one_of(st.sampled_from([lo - 1e-9, hi, hi + 1e-9, lo - 1]), anything)
    return mostly(st.one_of(valid, st.none()) if nullable else valid, edges)


fix_like = st.tuples(
    times,
    ranged(-180, 180),
    ranged(-90, 90),
    ranged(0, 100, nullable=True),
    ranged(0, 360, nullable=True, exclusive_hi=True),
    ranged(0, 99.9, nullable=True),
).map(list)
fixes = mostly(
    st.lists(fix_like, min_size=1, max_size=4),
    st.one_of(st.just([]), st.lists(st.lists(times, min_size=5, max_size=7), max_size=2), anything),
)


def sometimes_extra(objects):
    """Objects that now and then carry a key the schema does not know."""
    return mostly(objects, objects.map(lambda o: {**o, "unknown": 1}))


event = sometimes_extra(
    st.fixed_dictionaries(
        {
            "t": times,
            "k": mostly(
                st.sampled_from(["harsh_brake", "bin_lift", "ignition_off"]), st.sampled_from(["speeding", 3, None])
            ),
            "lon": ranged(-180, 180),
            "lat": ranged(-90, 90),
            "mag": ranged(0, 3600),
        },
        optional={"spd": ranged(0, 100, nullable=True)},
    )
)


def top(items_key: str, items):
    return sometimes_extra(
        st.fixed_dictionaries(
            {
                "v": mostly(st.just(1), st.sampled_from([1.0, 2, "1", True, None])),
                "vid": mostly(
                    st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z"), st.sampled_from(["", "-x", 7, "a" * 65])
                ),
                "seq": mostly(st.integers(0, 2**53 - 1), st.sampled_from([-1, 2**53, 3.0, True, "1"])),
                "sent": times,
                items_key: items,
            },
            optional={"priv": mostly(st.booleans(), st.sampled_from([0, 1, "true"]))},
        )
    )


def schema_accepts(channel: str, body) -> bool:
    try:
        BY_SCHEMA[channel](body)
        return True
    except fastjsonschema.JsonSchemaValueException:
        return False


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(top("fixes", fixes))
def test_fast_telemetry_check_accepts_only_what_the_schema_accepts(body):
    fast = FAST._fast_telemetry(body)
    if fast is not None:
        assert schema_accepts("telemetry", body), body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(top("events", mostly(st.lists(event, min_size=1, max_size=3), st.one_of(st.just([]), anything))))
def test_fast_events_check_accepts_only_what_the_schema_accepts(body):
    fast = FAST._fast_events(body)
    if fast is not None:
        assert schema_accepts("events", body), body


EDGE_VALUES = [
    None,
    True,
    False,
    "1",
    0,
    -1,
    1.0,
    1.5,
    -1e-9,
    90,
    -90,
    90.0000001,
    180,
    -180,
    180.0000001,
    99.9,
    99.90001,
    100,
    100.00001,
    359.99,
    360,
    3600,
    3600.5,
    946_684_800_000,
    946_684_799_999,
    4_102_444_800_000,
    4_102_444_800_001,
    1.7951556e12,
    2**53 - 1,
    2**53,
    [],
    {},
]


@pytest.mark.parametrize("position", range(6))
def test_fix_values_at_every_edge_agree_with_the_schema(validator, position):
    for value in EDGE_VALUES:
        fixes = [[NOW - 1000, -96.8, 32.78, 5.0, 90.0, 0.9]]
        fixes[0][position] = value
        body = tel(fixes=fixes)
        accepted = schema_accepts("telemetry", body)
        if validator._fast_telemetry(orjson.loads(orjson.dumps(body))) is not None:
            assert accepted, (position, value)
        result = check(validator, body)
        assert isinstance(result, Telemetry) == accepted or result.reason in ("future_time", "clock_skew", "expired"), (
            position,
            value,
            result,
        )


@pytest.mark.parametrize("field", ["t", "k", "lon", "lat", "mag", "spd"])
def test_event_values_at_every_edge_agree_with_the_schema(validator, field):
    for value in [*EDGE_VALUES, "harsh_brake", "speeding"]:
        event = {"t": NOW - 500, "k": "bin_lift", "lon": -96.8, "lat": 32.78, "mag": 20.0, "spd": 0.0, field: value}
        body = ev(events=[event])
        accepted = schema_accepts("events", body)
        if validator._fast_events(orjson.loads(orjson.dumps(body))) is not None:
            assert accepted, (field, value)
        result = check(validator, body, "events")
        assert isinstance(result, Events) == accepted or result.reason in ("future_time", "clock_skew", "expired"), (
            field,
            value,
            result,
        )
