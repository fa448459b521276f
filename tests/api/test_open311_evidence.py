"""The record's answer to a 311 complaint, on the seeded world: serviced or missed on the
collection day, when the truck stopped and for how long, by position or by address — and
never a word about a person."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import subprocess
import sys
from datetime import datetime, time, timedelta, timezone
from pathlib import Path

import pytest
from georeport_server import GeoReport, Served
from gis_city import seed_city
from support import record_evidence, run, with_conn

from fleetpilot.api.db import open_pool
from fleetpilot.api.ogc.params import city_day
from fleetpilot.open311.client import GeoReportClient, GeoReportSettings
from fleetpilot.open311.records import Complaint
from fleetpilot.open311.sync import sync

pytestmark = pytest.mark.integration
SEG_C = (13.405, 52.5101)  # ~11 m from seg-c's middle


def _complaint(day, lon=None, lat=None, address=None, hour=15) -> Complaint:
    at = datetime.combine(day, time(hour), tzinfo=timezone.utc)
    return Complaint("c-1", "SAN-MISSED", "open", "cart not emptied", at, at, lon, lat, address)


def _answer(api, complaint):
    return record_evidence(api.database_url, complaint)


def test_the_record_answers_complaints(api):
    run(with_conn(api.database_url, seed_city))
    week1 = api.world.week1
    # Day 3 of week 1: r-north's shift missed seg-c (odd shifts do in the seeded world).
    missed = _answer(api, _complaint(week1 + timedelta(days=3), *SEG_C))
    assert (missed.verdict, missed.segment_id, missed.route_id, missed.vehicle_id) == (
        "missed",
        "seg-c",
        "r-north",
        "truck-1",
    )
    assert missed.collection_day == (week1 + timedelta(days=3)).isoformat()
    # Day 2: serviced, and the truck stopped 35 s near the complaint at 07:42.
    day2 = week1 + timedelta(days=2)
    arrived = datetime.combine(day2, time(7, 42), tzinfo=timezone.utc)
    stops = [
        {"lon": 13.401, "lat": 52.5, "arrived_at": "2026-01-01T00:00:00Z", "dwell_s": 10},
        {"lon": 13.4051, "lat": 52.51, "arrived_at": arrived.isoformat().replace("+00:00", "Z"), "dwell_s": 35},
    ]
    api.sql(
        "UPDATE shift_metrics SET stop_points = $1::text::jsonb WHERE route_id = 'r-north' AND day = $2",
        json.dumps(stops),
        day2,
    )
    served = _answer(api, _complaint(day2, *SEG_C))
    assert served.verdict == "serviced" and served.passed_at == arrived and served.stopped_s == 35
    assert served.before_complaint is True
    assert "stopped 35 s" in served.reply(lambda t: t.strftime("%H:%M")) and "07:42" in served.reply(
        lambda t: t.strftime("%H:%M")
    )
    # A complaint made at 01:00, before that day's 06:00 shift, is about the day before.
    early = _complaint(day2 + timedelta(days=1), *SEG_C, hour=1)
    assert _answer(api, early).collection_day == day2.isoformat()
    # Address only: the street's planned segments (seg-a and seg-b are Main St).
    by_address = _answer(api, _complaint(day2, address="12 Main Street"))
    assert by_address.verdict == "serviced" and by_address.segment_id in ("seg-a", "seg-b")
    assert _answer(api, _complaint(day2, 13.5, 52.6)).verdict == "no_segment"
    assert _answer(api, _complaint(week1 + timedelta(days=60), *SEG_C)).verdict == "no_shift"
    # Never a person: no crew id, no shift id in the evidence.
    for found in (missed, served, by_address):
        text = json.dumps(dataclasses.asdict(found), default=str)
        assert "p-" not in text and "zz" not in text and "ana" not in text
        assert "shift_id" not in text


def test_a_data_gap_is_no_data_not_a_miss_in_the_evidence(api):
    """The shift that missed seg-c had in truth no positions while it was due: the 311 team
    hears "not known", never "not collected"."""
    run(with_conn(api.database_url, seed_city))
    day3 = api.world.week1 + timedelta(days=3)
    api.sql(
        "UPDATE shift_metrics SET missed_segments = '{}', no_data_segments = '{seg-c}'"
        " WHERE route_id = 'r-north' AND day = $1",
        day3,
    )
    found = _answer(api, _complaint(day3, *SEG_C))
    assert (found.verdict, found.segment_id, found.route_id) == ("no_data", "seg-c", "r-north")
    assert found.passed_at is None and "Not known" in found.reply(str)


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_the_311_team_gets_a_csv_of_evidence(api, tmp_path, fmt):
    """`fleetpilot open311` reads a GeoReport v2 server (the spec's, written in the tests) and
    writes one evidence row per missed-collection complaint; other services are not asked for."""
    run(with_conn(api.database_url, seed_city))
    week1 = api.world.week1
    state = GeoReport()
    state.requests = [
        {"service_request_id": "m1", "service_code": "SAN-MISSED", "status": "open",
         "requested_datetime": f"{week1 + timedelta(days=3)}T15:00:00+00:00", "lat": SEG_C[1], "long": SEG_C[0]},
        {"service_request_id": "a1", "service_code": "SAN-MISSED", "status": "open",
         "requested_datetime": f"{week1 + timedelta(days=2)}T15:00:00+00:00", "address": "12 Main Street"},
        {"service_request_id": "p1", "service_code": "POT", "status": "open",
         "requested_datetime": f"{week1 + timedelta(days=2)}T15:00:00+00:00", "lat": SEG_C[1], "long": SEG_C[0]},
    ]  # fmt: skip
    server = Served(state)
    try:
        env = {**os.environ, "FLEETPILOT_DATABASE_URL": api.database_url, "FLEETPILOT_DATA_DIR": str(tmp_path)}
        command = [
            str(Path(sys.executable).with_name("fleetpilot")), "open311", "--base-url", server.url,
            "--service-code", "SAN-MISSED", "--format", fmt,
            "--from", week1.isoformat(), "--to", (week1 + timedelta(days=7)).isoformat(),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
        print(done.stdout, done.stderr)
        assert done.returncode == 0, done.stderr
    finally:
        server.stop()
    rows = {r["service_request_id"]: r for r in csv.DictReader(io.StringIO(done.stdout))}
    assert set(rows) == {"m1", "a1"}
    assert (rows["m1"]["verdict"], rows["m1"]["route_id"]) == ("missed", "r-north")
    assert rows["a1"]["verdict"] == "serviced" and rows["a1"]["suggested_reply"].startswith("Collected on")


def test_sync_stores_resumes_and_marks(api):
    """Stored with evidence, page by page: a server that goes down mid-way is resumed with
    nothing skipped or doubled; a re-opened request is counted; a malformed answer is
    dead-lettered with its reason; complaints far from any planned street or before the pilot
    are kept and marked."""
    run(with_conn(api.database_url, seed_city))
    week1 = api.world.week1
    at = lambda days, hour: f"{week1 + timedelta(days=days)}T{hour:02d}:00:00+00:00"  # noqa: E731
    state = GeoReport(max_results=2)
    state.requests = [
        {"service_request_id": "m1", "service_code": "SAN-MISSED", "status": "open", "requested_datetime": at(3, 15),
         "lat": SEG_C[1], "long": SEG_C[0]},
        {"service_request_id": "a1", "service_code": "SAN-MISSED", "status": "closed", "requested_datetime": at(2, 15),
         "address": "12 Main Street"},
        {"service_request_id": "f1", "service_code": "SAN-MISSED", "status": "open", "requested_datetime": at(2, 16),
         "lat": 52.9, "long": 13.9},
        {"service_request_id": "e1", "service_code": "SAN-MISSED", "status": "open", "requested_datetime": at(0, 1),
         "lat": SEG_C[1], "long": SEG_C[0]},
        {"service_request_id": "d1", "service_code": "SAN-MISSED", "status": "open", "requested_datetime": at(4, 9),
         "lat": SEG_C[1], "long": SEG_C[0]},
        {"service_request_id": "s1", "service_code": "SAN-MISSED", "status": "open", "requested_datetime": at(3, 16),
         "lat": 52.5001, "long": 13.405},
    ]  # fmt: skip
    server = Served(state)
    now = datetime.combine(week1 + timedelta(days=6), time(), tzinfo=timezone.utc)
    settings = GeoReportSettings(base_url=server.url, fmt="xml", page_size=2, retries=1, backoff_s=0.01)

    def sync_once():
        async def go():
            pool = await open_pool(api.database_url, max_size=1)
            try:
                async with pool.acquire() as conn, GeoReportClient(settings) as client:
                    return await sync(conn, client, now, city_day)
            finally:
                await pool.close()

        return run(go())

    try:
        state.down_after = 2  # the second page's retry fails
        first = sync_once()
        assert first.error and "503" in first.error and 0 < first.stored < 5
        state.down_after = None
        assert sync_once().error is None
        stored = {r["service_request_id"]: r for r in api.sql("SELECT * FROM complaints")}
        assert set(stored) == {"m1", "a1", "f1", "e1", "d1", "s1"}
        assert stored["m1"]["verdict"] == "missed" and stored["a1"]["verdict"] == "serviced"
        assert stored["f1"]["outside_city"] and not stored["m1"]["outside_city"]
        assert stored["e1"]["outside_pilot"] and not stored["m1"]["outside_pilot"]
        # Re-opened: the request was closed and is open again.
        state.requests[1]["status"] = "open"
        sync_once()
        assert api.sql("SELECT times_reopened FROM complaints WHERE service_request_id = 'a1'")[0][0] == 1
        sync_once()  # read again: a duplicate changes nothing
        assert api.sql("SELECT count(*), sum(times_reopened) FROM complaints")[0] == (6, 1)
        state.malformed_next = 1
        assert "dead-lettered" in sync_once().error
        rejects = api.sql("SELECT reason, bytes FROM complaint_rejects")
        assert len(rejects) == 1 and "not XML" in rejects[0]["reason"] and rejects[0]["bytes"] > 0
    finally:
        server.stop()
    # The supervisor's queue: every complaint with its evidence and a suggested reply.
    # The city's days (America/Chicago): e1, made at 01:00 UTC on Monday, is Sunday evening there.
    week = {"from": (week1 - timedelta(days=1)).isoformat(), "to": (week1 + timedelta(days=7)).isoformat()}
    monday_on = api.get("/api/v1/complaints", "supervisor", params={**week, "from": week1.isoformat()}).json()
    assert "e1" not in {c["service_request_id"] for c in monday_on}
    queue = {c["service_request_id"]: c for c in api.get("/api/v1/complaints", "supervisor", params=week).json()}
    assert set(queue) == {"m1", "a1", "f1", "e1", "d1", "s1"}
    assert queue["m1"]["suggested_reply"].startswith("Not collected") and queue["s1"]["verdict"] == "serviced"
    assert "p-" not in json.dumps(queue)
    # The crew: ana drove r-north on day 3, when seg-a was collected: s1 answered in her favour.
    assert [c["service_request_id"] for c in api.get("/api/v1/me/complaints", "driver").json()] == ["s1"]
    # ben drove day 4, when d1's segment was collected; never another crew's complaints.
    assert [c["service_request_id"] for c in api.get("/api/v1/me/complaints", "ben").json()] == ["d1"]
    assert api.get("/api/v1/complaints", "data_officer", params=week).status_code == 403


def test_the_sync_command_stores_from_the_settings(api, tmp_path):
    yesterday = (datetime.now(timezone.utc) - timedelta(days=1)).isoformat(timespec="seconds")
    state = GeoReport()
    state.requests = [
        {"service_request_id": "n1", "service_code": "SAN-MISSED", "status": "open", "requested_datetime": yesterday,
         "lat": SEG_C[1], "long": SEG_C[0]},
    ]  # fmt: skip
    server = Served(state)
    try:
        env = {
            **os.environ,
            "FLEETPILOT_DATABASE_URL": api.database_url,
            "FLEETPILOT_DATA_DIR": str(tmp_path),
            "FLEETPILOT_OPEN311_BASE_URL": server.url,
            "FLEETPILOT_OPEN311_SERVICE_CODES": "SAN-MISSED",
        }
        command = [str(Path(sys.executable).with_name("fleetpilot")), "open311", "--sync"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
        print(done.stdout, done.stderr)
        assert done.returncode == 0, done.stderr
        assert "1 complaint(s) stored" in done.stdout
        assert state.updates == [] and state.update_calls == 0  # write-back is off by default
        # An answered complaint stored earlier (n1, yesterday, has no shift near it to answer it).
        state.requests.append(
            {**state.requests[0], "service_request_id": "n0", "requested_datetime": "2026-01-05T15:00:00+00:00"}
        )
        api.sql(
            "INSERT INTO complaints (service_request_id, status, requested_at, verdict, segment_id, route_id, "
            "vehicle_id, collection_day) VALUES ('n0', 'open', '2026-01-05T15:00:00Z', 'serviced', 'seg-c', 'r-north', "
            "'truck-1', '2026-01-05')"
        )
        env["FLEETPILOT_OPEN311_WRITE_BACK"] = "true"
        env["FLEETPILOT_OPEN311_API_KEY"] = state.api_key
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
        print(done.stdout, done.stderr)
        assert done.returncode == 0, done.stderr
        assert "write-back: 1 note(s) posted" in done.stdout
        assert [u["service_request_id"] for u in state.updates] == ["n0"]
    finally:
        server.stop()
    stored = api.sql("SELECT service_request_id FROM complaints ORDER BY 1")
    assert [r["service_request_id"] for r in stored] == ["n0", "n1"]


def test_write_back_posts_each_answer_once(api):
    """Notes go to a 311 server that accepts updates (mySociety's extension, written in the
    tests): retried through a 503, each (complaint, evidence version) posted once, changed
    evidence posted again, a server that stays down ends the run with nothing marked, and a
    refused note keeps its reason."""
    from fleetpilot.api.ogc.params import city_time
    from fleetpilot.open311.writeback import write_back

    run(with_conn(api.database_url, seed_city))
    week1 = api.world.week1
    at = lambda days, hour: f"{week1 + timedelta(days=days)}T{hour:02d}:00:00+00:00"  # noqa: E731
    state = GeoReport(api_key="city-key")
    state.requests = [
        {"service_request_id": "m1", "service_code": "SAN-MISSED", "status": "open", "requested_datetime": at(3, 15),
         "lat": SEG_C[1], "long": SEG_C[0]},
        {"service_request_id": "s1", "service_code": "SAN-MISSED", "status": "closed", "requested_datetime": at(3, 16),
         "lat": 52.5001, "long": 13.405},
        {"service_request_id": "f1", "service_code": "SAN-MISSED", "status": "open", "requested_datetime": at(2, 16),
         "lat": 52.9, "long": 13.9},
    ]  # fmt: skip
    server = Served(state)
    now = datetime.combine(week1 + timedelta(days=6), time(), tzinfo=timezone.utc)

    def once(key="city-key", sync_first=False):
        settings = GeoReportSettings(base_url=server.url, api_key=key, retries=3, backoff_s=0.01)

        async def go():
            pool = await open_pool(api.database_url, max_size=1)
            try:
                async with pool.acquire() as conn, GeoReportClient(settings) as client:
                    if sync_first:
                        assert (await sync(conn, client, now, city_day)).error is None
                    return await write_back(conn, client, city_time, now=now)
            finally:
                await pool.close()

        return run(go())

    try:
        state.fail_updates_next = 2  # the first note's first two tries
        first = once(sync_first=True)
        assert (first.posted, first.already, first.refused, first.error) == (2, 0, [], None)
        assert state.update_calls == 4
        week = {"from": (week1 - timedelta(days=1)).isoformat(), "to": (week1 + timedelta(days=7)).isoformat()}
        queue = {c["service_request_id"]: c for c in api.get("/api/v1/complaints", "supervisor", params=week).json()}
        sent = {u["service_request_id"]: u for u in state.updates}
        assert set(sent) == {"m1", "s1"}  # f1 has no answer from the record: the 311 desk's
        for rid, update in sent.items():
            # The team's reply without route and truck: residents may read the 311 system.
            assert update["description"] == queue[rid]["suggested_reply"].split(" (route")[0] + (
                "." if queue[rid]["verdict"] == "serviced" else ": a return trip is needed."
            )
            assert "route" not in update["description"] and "truck-" not in update["description"]
            assert update["update_id"] == f"fleetpilot-{rid}-{queue[rid]['evidence_version']}"
            assert update["api_key"] == "city-key" and update["updated_datetime"].endswith("Z")
        assert (sent["m1"]["status"], sent["s1"]["status"]) == ("OPEN", "CLOSED")
        assert "p-" not in json.dumps(state.updates)
        # Again: nothing new to say, nothing posted.
        again = once()
        assert (again.posted, again.already) == (0, 2) and len(state.updates) == 2
        # Late data changes s1's evidence: a new version, one new note.
        api.sql(
            "UPDATE complaints SET stopped_s = 41, passed_at = requested_at - interval '2 hours' WHERE service_request_id = 's1'"
        )
        changed = once()
        assert (changed.posted, changed.already) == (1, 1) and len(state.updates) == 3
        assert state.updates[-1]["service_request_id"] == "s1" and "41 s" in state.updates[-1]["description"]
        # A server that stays down: the run stops, nothing is marked posted, the next run posts it once.
        api.sql("UPDATE complaints SET stopped_s = 42 WHERE service_request_id = 's1'")
        state.fail_updates_next = 100
        down = once()
        assert down.error and "503" in down.error and down.posted == 0
        assert api.sql("SELECT count(*) FROM complaint_updates WHERE posted_at IS NULL")[0][0] == 1
        state.fail_updates_next = 0
        assert once().posted == 1 and len(state.updates) == 4
        # A refused note (wrong key) keeps its reason and is not marked posted.
        api.sql("UPDATE complaints SET stopped_s = 43 WHERE service_request_id = 's1'")
        refused = once(key="wrong")
        assert refused.posted == 0 and len(refused.refused) == 1 and "403" in refused.refused[0]
        assert "403" in api.sql("SELECT last_error FROM complaint_updates WHERE posted_at IS NULL")[0][0]
    finally:
        server.stop()
