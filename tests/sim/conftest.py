"""Small simulated fleets shared by the simulator tests (each built once per session)."""

from __future__ import annotations

import json
from pathlib import Path

import fastjsonschema
import pytest

from fleetsim.config import Faults, SimConfig
from fleetsim.offline import generate_fleet, iter_vehicle_days
from fleetsim.scenario import build_scenario

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "fleetpilot" / "protocol" / "v1.schema.json"
START = "2026-11-20T06:00:00Z"


@pytest.fixture(scope="session")
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


@pytest.fixture(scope="session")
def validators(schema) -> dict:
    """Compiled validators per channel (telemetry, events, status, config) and for any v1 payload."""
    out = {
        name: fastjsonschema.compile({"definitions": schema["definitions"], "$ref": f"#/definitions/{name}"})
        for name in ("telemetry", "events", "status", "config")
    }
    out["any"] = fastjsonschema.compile(schema)
    return out


@pytest.fixture(scope="session")
def quiet_run():
    """4 trucks, one day, perfect GPS and link: positions and speeds are the truth."""
    return generate_fleet(n_vehicles=4, seed=3, start=START, noise=False)


@pytest.fixture(scope="session")
def noisy_run():
    """The same trucks with default receiver and link realism."""
    return generate_fleet(n_vehicles=4, seed=3, start=START)


@pytest.fixture(scope="session")
def faulty_scenario():
    """6 trucks with every fault on: leaks, hostile payloads, frequent outages, a small buffer."""
    from dataclasses import replace

    cfg = SimConfig(seed=5, n_vehicles=6, start_ms=1795154400000, city="faulty")
    cfg = replace(
        cfg,
        faults=Faults(leak=True, hostile=True),
        link=replace(cfg.link, offline_per_hour=1.5, buffer_messages=40, duplicate_rate=0.02, clock_skew_s=3.0),
    )
    return build_scenario(cfg)


@pytest.fixture(scope="session")
def faulty_days(faulty_scenario):
    return list(iter_vehicle_days(faulty_scenario))
