"""A simulated fleet through the real broker into the database, compared with ground truth."""

from __future__ import annotations

from dataclasses import replace

import pytest
from ingest_kit import assert_exactly_once, build_fleet, wait_for_rows

from fleetsim.config import Connectivity, Faults

pytestmark = [pytest.mark.integration, pytest.mark.broker]


@pytest.mark.timeout(120)
def test_fleet_with_leaks_outages_and_duplicates_is_stored_exactly_once(
    db_url, mqtt_url, city, start_worker, clean_retained
):
    link = replace(Connectivity(), offline_per_hour=4.0, duplicate_rate=0.05, buffer_messages=400)
    fleet = build_fleet(db_url, city, vehicles=4, hours=0.5, faults=Faults(leak=True), link=link)
    clean_retained.extend(fleet.scenario.roster.vehicle_ids)
    totals = fleet.truth["totals"]
    assert totals["fixes_offduty"] > 0 and totals["duplicate_publishes"] > 0
    assert totals["replayed_messages"] > 0
    _worker = start_worker()
    fleet.publish(mqtt_url, accel=0)
    wait_for_rows(db_url, fleet)
    assert_exactly_once(db_url, fleet)
