"""Fixtures of the what-if tests: synthetic fleets with known causal structure, and a small
simulator (fleetsim) run turned into a history the way the database path does it."""
from __future__ import annotations

import pytest

from fleetpilot.analytics.whatif.synthetic import SyntheticConfig, generate

BASE = SyntheticConfig(rows=16, days=21)


@pytest.fixture(scope="session")
def base_config() -> SyntheticConfig:
    return BASE


@pytest.fixture(scope="session")
def base_fleet():
    return generate(BASE)


@pytest.fixture(scope="session")
def sim_run():
    """10 trucks × 7 days from the simulator (about 2.5 M fixes; ~2 s)."""
    from fleetsim.offline import generate_fleet

    return generate_fleet(n_vehicles=10, days=7, seed=3, start="2026-03-02T06:00:00Z")


@pytest.fixture(scope="session")
def sim_history(sim_run):
    from fleetpilot.analytics.whatif.assemble import history_from_documents

    return history_from_documents(sim_run.city_geojson, sim_run.routes_geojson, sim_run.roster, sim_run.fixes,
                                  sim_run.events, sim_run.vehicle_ids, sim_run.event_kinds)
