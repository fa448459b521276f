"""Two workers behind an MQTT 5 shared subscription split one fleet's stream."""

from __future__ import annotations

import pytest
from ingest_kit import assert_exactly_once, build_fleet, wait_for_rows, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.broker]
RECEIVED = "fleetpilot_ingest_messages_received_total"


def received(worker) -> float:
    return sum(worker.value(RECEIVED, channel=c) for c in ("telemetry", "events", "status", "other"))


@pytest.mark.timeout(120)
def test_two_workers_split_the_load_with_no_duplicates_or_gaps(db_url, mqtt_url, city, start_worker, clean_retained):
    fleet = build_fleet(db_url, city, vehicles=4, hours=0.5)
    clean_retained.extend(fleet.scenario.roster.vehicle_ids)
    first = start_worker(worker_id="a", share_group="g")
    second = start_worker(worker_id="b", share_group="g")
    report = fleet.publish(mqtt_url, accel=0)
    wait_for_rows(db_url, fleet)
    # Every publish (and every will the broker sent for a dropped link) reached exactly one worker.
    expected = report.publishes + report.drops
    wait_until(lambda: received(first) + received(second) >= expected, 30, f"{expected} deliveries")
    assert received(first) + received(second) == expected
    assert received(first) > 0.25 * expected and received(second) > 0.25 * expected
    assert first.value("fleetpilot_ingest_rows_stored_total", table="fixes") > 0
    assert second.value("fleetpilot_ingest_rows_stored_total", table="fixes") > 0
    assert_exactly_once(db_url, fleet)
