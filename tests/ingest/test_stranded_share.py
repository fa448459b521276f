"""Two workers on a shared subscription; one is SIGKILLed and never returns.

Mosquitto keeps routing the dead worker's share to its session. The live worker must see it
(a WARNING naming the peer; gauge fleetpilot_ingest_stranded_sessions) and rescue it: take
the session over, store what it held, end it. Ground truth: every row stored once.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from ingest_kit import assert_exactly_once, build_fleet, ground_truth_counts, sql, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.broker]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def stored(db_url: str) -> int:
    return sql(db_url, "SELECT count(*) AS n FROM fixes")[0]["n"]


def events(log: Path, event: str) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines() if f'"event":"{event}' in line]


@pytest.mark.timeout(150)
def test_a_dead_workers_stranded_share_is_reported_and_rescued(db_url, mqtt_url, city, start_process, clean_retained):
    fleet = build_fleet(db_url, city, vehicles=4, hours=0.3)
    clean_retained.extend(fleet.scenario.roster.vehicle_ids)
    options = ("--share-group", "g", "--session-expiry", "120", "--rescue-after", "2")
    live = start_process("--worker-id", "a", *options, cli=False)
    live.wait_subscribed()
    doomed = start_process("--worker-id", "b", *options, cli=False)
    doomed.wait_subscribed(count=2)
    published = threading.Thread(target=fleet.publish, args=(mqtt_url, 120), daemon=True)
    published.start()
    wait_until(lambda: stored(db_url) > 300, 30, "the first batches to be stored")
    doomed.kill()  # never returns; its session lives on at the broker for 120 s
    killed = time.monotonic()
    log = live.log
    wait_until(lambda: events(log, "shared-subscription share stranded"), 15, "the stranded share to be reported")
    reported = time.monotonic() - killed
    published.join(90)
    wait_until(lambda: stored(db_url) >= len(fleet.fixes), 60, "every row, the stranded share's included")
    recovered = time.monotonic() - killed
    counts = ground_truth_counts(db_url, fleet)
    line = {
        "scenario": "2 workers, one SIGKILLed for good",
        **counts,
        "reported_after_s": round(reported, 2),
        "all_stored_after_kill_s": round(recovered, 2),
    }
    print("FAULT", json.dumps(line))
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / "fault-scenarios.jsonl", "a") as out:
        out.write(json.dumps(line) + "\n")
    assert_exactly_once(db_url, fleet)
    stranded = events(log, "shared-subscription share stranded")[0]
    assert stranded["level"] == "warning" and stranded["peer"].endswith("-b")
    wait_until(lambda: events(log, "stranded share rescued"), 30, "the rescue to end the session")
    rescued = events(log, "stranded share rescued")[0]
    assert rescued["peer"].endswith("-b") and rescued["messages"] > 0
    assert live.terminate() == 0


@pytest.mark.timeout(60)
def test_the_last_worker_stopping_keeps_its_session_beyond_the_short_expiry(db_url, city, start_worker, publisher):
    """The short expiry is for dead peers' shares. A clean stop with no live peer (the only
    worker, for maintenance) leaves the session for `alone_session_expiry_s`, so what is
    published meanwhile waits for it."""
    from ingest_kit import fix, register, telemetry

    now = int(time.time() * 1000)
    register(db_url, city, "truck-1", [(now - 3_600_000, now + 3_600_000)])
    first = start_worker(worker_id="solo", session_expiry_s=1, alone_session_expiry_s=120)
    first.stop()
    for seq in range(20):
        publisher.send("truck-1", "telemetry", telemetry("truck-1", seq + 1, [fix(now - 60_000 + seq * 1000)]))
    publisher.flush()
    time.sleep(3)  # three times the 1 s expiry the worker connected with
    start_worker(worker_id="solo", session_expiry_s=1, alone_session_expiry_s=120)
    wait_until(lambda: stored(db_url) == 20, 20, "the messages published while the worker was stopped")
