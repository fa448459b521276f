"""Every message the simulator sends validates against fleetpilot/protocol/v1.schema.json."""

from __future__ import annotations

import fastjsonschema
import jsonschema
import orjson
import pytest

from fleetsim.messages import Encoder
from fleetsim.offline import iter_vehicle_days, other_vehicle
from fleetsim.schedule import HOSTILE, HOSTILE_KINDS

MAX_PAYLOAD = 256 * 1024


def _publications(sc, days):
    for vd in days:
        enc = Encoder(
            vd.result, vd.schedule, sc.config.city, other_vehicle(sc, vd.result.shift.vehicle), sc.config.seed
        )
        for pub in enc.publications():
            yield vd, pub


def test_schema_is_valid_draft7(schema):
    jsonschema.Draft7Validator.check_schema(schema)


def test_every_regular_message_validates(faulty_scenario, faulty_days, validators):
    seen = {"telemetry": 0, "events": 0, "status": 0}
    for vd, pub in _publications(faulty_scenario, faulty_days):
        if vd.schedule.kind[pub.row] == HOSTILE:
            continue
        _, city, vid, channel = pub.topic.split("/")
        body = orjson.loads(pub.payload)
        validators[channel](body)
        validators["any"](body)
        assert city == faulty_scenario.config.city
        assert body["vid"] == vid == vd.result.shift.vehicle_id
        assert len(pub.payload) < MAX_PAYLOAD
        assert pub.retain == (channel == "status")
        seen[channel] += 1
    assert all(n > 0 for n in seen.values()), seen


def test_default_run_messages_validate_with_jsonschema_too(noisy_run, schema):
    sc = noisy_run.scenario
    days = list(iter_vehicle_days(sc, range(1)))
    checked = 0
    for _, pub in _publications(sc, days):
        if checked % 25 == 0:  # jsonschema is slow; a sample, fastjsonschema checks them all above
            jsonschema.validate(orjson.loads(pub.payload), schema)
        checked += 1
    assert checked > 3000


def test_hostile_messages_are_invalid_or_claim_another_vehicle(faulty_scenario, faulty_days, validators):
    by_kind = dict.fromkeys(HOSTILE_KINDS, 0)
    for vd, pub in _publications(faulty_scenario, faulty_days):
        if vd.schedule.kind[pub.row] != HOSTILE:
            continue
        kind = HOSTILE_KINDS[vd.schedule.hostile_kind[pub.row]]
        by_kind[kind] += 1
        channel = pub.topic.split("/")[3]
        vid = pub.topic.split("/")[2]
        if kind == "bad_json":
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(pub.payload)
            continue
        body = orjson.loads(pub.payload)
        if kind == "foreign_vid":
            validators[channel](body)
            assert body["vid"] != vid
        else:
            with pytest.raises(fastjsonschema.JsonSchemaException):
                validators[channel](body)
        if kind == "huge":
            assert len(pub.payload) > MAX_PAYLOAD
    assert all(n > 0 for n in by_kind.values()), by_kind


def test_schema_rejects_what_the_contract_forbids(validators):
    good = {
        "v": 1,
        "vid": "truck-001",
        "seq": 5,
        "sent": 1795154400000,
        "fixes": [[1795154400000, -96.8, 32.7, 3.2, 359.9, 0.9]],
    }
    validators["telemetry"](good)
    bad_variants = [
        {**good, "v": 2},
        {**good, "seq": -1},
        {**good, "fixes": []},
        {**good, "extra": 1},
        {**good, "fixes": [[1795154400000, -96.8, 32.7, 3.2, 360.0, 0.9]]},
        {**good, "fixes": [[1795154400000, 181.0, 32.7, 3.2, 10.0, 0.9]]},
        {**good, "fixes": [[1795154400000, -96.8, 32.7, 3.2, 10.0]]},
        {**good, "priv": "yes"},
        {k: v for k, v in good.items() if k != "vid"},
    ]
    for bad in bad_variants:
        with pytest.raises(fastjsonschema.JsonSchemaException):
            validators["telemetry"](bad)
    event = {
        "v": 1,
        "vid": "truck-001",
        "seq": 6,
        "sent": 1795154400000,
        "events": [{"t": 1795154400000, "k": "bin_lift", "lon": -96.8, "lat": 32.7, "mag": 11.0}],
    }
    validators["events"](event)
    with pytest.raises(fastjsonschema.JsonSchemaException):
        validators["events"]({**event, "events": [{**event["events"][0], "k": "teleport"}]})
    status = {"v": 1, "vid": "truck-001", "seq": 7, "state": "offline", "t": 1795154400000, "fw": "x"}
    validators["status"](status)
    with pytest.raises(fastjsonschema.JsonSchemaException):
        validators["status"]({**status, "state": "sleeping"})
    validators["config"]({"v": 1, "issued": 1795154400000, "rate_hz": 1.0, "private": True})
