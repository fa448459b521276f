"""The exported files (shape, roster rules, import into the real database) and the command line."""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter

import asyncpg
import orjson
import paho.mqtt.client as mqtt
import pyarrow.parquet as pq
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from support import run

from fleetsim.cli import main
from fleetsim.mqtt import Broker
from fleetsim.roster import build_roster, parse_time

START = "2026-11-20T06:00:00Z"


@pytest.mark.parametrize("n", list(range(1, 31)))
def test_every_shift_gets_a_crew(n):
    roster = build_roster(7, "metro", n, 7, parse_time(START), 10.0, 20.0)
    for s in roster.shifts:
        assert 2 <= len(s.crew) <= 3 and len(set(s.crew)) == len(s.crew)
    for day in range(7):
        crews = [p for s in roster.shifts if s.day == day for p in s.crew]
        assert len(crews) == len(set(crews))  # nobody on two trucks at once


def test_month_gives_everyone_many_shifts_with_stable_pseudonyms():
    month = build_roster(7, "metro", 10, 30, parse_time(START), 10.0, 20.0)
    per_person = Counter(p for s in month.shifts for p in s.crew)
    ids = [p for p, _ in month.people]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"p-[0-9a-f]{6}", p) for p in ids)
    assert min(per_person[p] for p in ids) >= 10  # k-anonymity needs many shifts per person
    vehicles_of = {p: {s.vehicle_id for s in month.shifts if p in s.crew} for p in ids}
    assert min(len(v) for v in vehicles_of.values()) >= 3  # people rotate between trucks and routes
    smaller = build_roster(7, "metro", 5, 2, parse_time(START), 10.0, 20.0)
    assert smaller.people == month.people[: len(smaller.people)]  # same seed → same pseudonyms and names
    other = build_roster(8, "metro", 5, 2, parse_time(START), 10.0, 20.0)
    assert other.people[0] != smaller.people[0]
    starts = {s.start_ms % 86_400_000 for s in month.shifts}
    assert len(starts) > 1 and all(s.end_ms - s.start_ms == 36_000_000 for s in month.shifts)


def test_plan_files_import_into_the_database(tmp_path, db_url):
    from fleetpilot.db.importer import import_city, import_roster, import_routes

    assert main(["plan", "--vehicles", "3", "--seed", "4", "--start", START, "--out", str(tmp_path)]) == 0
    city = json.loads((tmp_path / "city.geojson").read_text())
    routes = json.loads((tmp_path / "routes.geojson").read_text())
    roster = json.loads((tmp_path / "roster.json").read_text())
    assert not (tmp_path / "truth.json").exists()
    streets = [f for f in city["features"] if f["properties"]["kind"] == "street"]
    facilities = {f["properties"]["facility_type"] for f in city["features"] if f["properties"]["kind"] == "facility"}
    assert facilities == {"depot", "transfer_station", "landfill", "break"}
    classes = {f["properties"]["road_class"] for f in streets}
    assert "residential" in classes and len(classes) >= 2  # collection streets and the roads between them
    assert any(f["properties"]["one_way"] for f in streets)
    route_ids = {f["properties"]["route_id"] for f in routes["features"]}
    assert route_ids == {s["route_id"] for s in roster["shifts"]}

    async def load():
        conn = await asyncpg.connect(db_url)
        try:
            await import_city(conn, city)
            versions = await import_routes(conn, routes)
            await import_roster(conn, roster)
            again = await import_routes(conn, routes)  # idempotent
            return (
                versions,
                again,
                await conn.fetchval("SELECT count(*) FROM street_segments"),
                await conn.fetchval("SELECT count(*) FROM route_stops"),
                await conn.fetchval("SELECT count(*) FROM shifts"),
                await conn.fetchval("SELECT count(*) FROM shift_crew"),
            )
        finally:
            await conn.close()

    versions, again, n_streets, n_stops, n_shifts, n_crew = run(load())
    assert versions == again == dict.fromkeys(route_ids, 1)
    assert n_streets == len(streets)
    assert n_stops == sum(1 for f in routes["features"] if f["properties"]["feature_type"] == "stop")
    assert n_shifts == len(roster["shifts"]) and n_crew == sum(len(s["crew"]) for s in roster["shifts"])


def test_offline_command_writes_parquet_and_ndjson(tmp_path, capsys):
    common = ["--vehicles", "2", "--hours", "1", "--seed", "6", "--start", START, "--hostile"]
    assert main(["offline", *common, "--out", str(tmp_path / "pq")]) == 0
    summary = json.loads(capsys.readouterr().out)
    truth = json.loads((tmp_path / "pq" / "truth.json").read_text())
    fixes = pq.read_table(tmp_path / "pq" / "fixes.parquet")
    events = pq.read_table(tmp_path / "pq" / "events.parquet")
    assert fixes.num_rows == truth["totals"]["fixes_published"] == summary["fixes"]
    assert events.num_rows == truth["totals"]["events_published"]
    assert {"vehicle_id", "t", "lon", "lat", "speed", "heading", "hdop"} <= set(fixes.column_names)
    assert main(["offline", *common, "--out", str(tmp_path / "nd"), "--format", "ndjson"]) == 0
    lines = (tmp_path / "nd" / "messages.ndjson").read_bytes().splitlines()
    t = truth["totals"]
    assert len(lines) == (
        t["telemetry_messages"]
        + t["events_messages"]
        + t["status_messages"]
        + t["duplicate_publishes"]
        + sum(t["hostile"].values())
    )
    fix_times = {
        (m["topic"], f[0])
        for m in map(orjson.loads, lines)
        if m["topic"].endswith("/telemetry")
        and isinstance(m["payload"], dict)
        and m["payload"].get("vid") == m["topic"].split("/")[2]
        and m["payload"].get("v") == 1
        for f in m["payload"].get("fixes", [])
        if isinstance(f, list) and isinstance(f[0], int) and -180 <= f[1] <= 180
    }
    assert len(fix_times) == t["fixes_published"]


def test_the_synthetic_city_is_irregular_unless_the_grid_is_asked_for(tmp_path, capsys):
    """Irregular by default (curved streets, cul-de-sacs); --city-style grid keeps the grid."""
    common = ["--vehicles", "1", "--hours", "1", "--seed", "6", "--start", START]
    streets = {}
    for style in ("default", "grid"):
        chosen = [] if style == "default" else ["--city-style", style]
        assert main(["offline", *common, *chosen, "--out", str(tmp_path / style)]) == 0
        capsys.readouterr()
        city = json.loads((tmp_path / style / "city.geojson").read_text())
        streets[style] = [f for f in city["features"] if f["properties"].get("kind") == "street"]
    curved = [f for f in streets["default"] if len(f["geometry"]["coordinates"]) > 2]
    dead_ends = [f for f in streets["default"] if f["properties"]["name"].endswith(" Close")]
    assert len(curved) > 20 and len(dead_ends) > 5
    assert all(len(f["geometry"]["coordinates"]) == 2 for f in streets["grid"])


def test_run_command_publishes_and_reports(tmp_path, mqtt_url, capsys):
    city = f"clitest-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "run"
    code = main(
        [
            "run",
            "--vehicles",
            "2",
            "--days",
            "2",
            "--hours",
            "0.5",
            "--seed",
            "9",
            "--start",
            START,
            "--city",
            city,
            "--accel",
            "max",
            "--broker",
            mqtt_url,
            "--out",
            str(out),
            "--truth",
            str(tmp_path / "t.json"),
        ]
    )
    report = json.loads(capsys.readouterr().out)
    truth = json.loads((out / "truth.json").read_text())
    roster = json.loads((out / "roster.json").read_text())
    b = Broker.from_url(mqtt_url)
    cleaner = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"cleaner-{city}")
    cleaner.connect(b.host, b.port)
    cleaner.loop_start()
    for v in roster["vehicles"]:
        cleaner.publish(f"fleet/{city}/{v['vehicle_id']}/status", b"", qos=1, retain=True).wait_for_publish(5)
    cleaner.loop_stop()
    cleaner.disconnect()
    assert code == 0
    assert report == json.loads((out / "report.json").read_text())
    assert report["connects"] >= 4  # a connection per unit per day (plus reconnects)
    assert truth == json.loads((tmp_path / "t.json").read_text())
    t = truth["totals"]
    assert (
        report["publishes"]
        == report["acked"]
        == (
            t["telemetry_messages"]
            + t["events_messages"]
            + t["duplicate_publishes"]
            + t["status_messages"]
            - sum(len(s["link"]["offline_windows"]) for s in truth["shifts"])
        )
    )


def test_bad_broker_url_is_a_clean_error(capsys):
    assert main(["run", "--vehicles", "1", "--broker", "http://nope", "--duration", "1"]) == 2
    assert "mqtt://" in capsys.readouterr().err


def test_fix_hazard_option_retires_an_intersection_in_the_truth(tmp_path, capsys):
    """`--fix-hazard LON,LAT@DATE` reaches the scenario (truth.json says which and when); a
    malformed value or a point far from every dangerous intersection is a one-line error."""
    common = ["--vehicles", "2", "--seed", "3", "--start", "2026-11-20T12:00:00Z", "--hours", "1", "--no-noise"]
    assert main(["offline", *common, "--out", str(tmp_path / "a"), "--truth", str(tmp_path / "a.json")]) == 0
    node = orjson.loads((tmp_path / "a.json").read_bytes())["dangerous_intersections"][1]
    fix = f"{node['lon']},{node['lat']}@2026-11-21"
    assert (
        main(
            [
                "offline",
                *common,
                f"--fix-hazard={fix}",
                "--out",
                str(tmp_path / "b"),
                "--truth",
                str(tmp_path / "b.json"),
            ]
        )
        == 0
    )
    listed = orjson.loads((tmp_path / "b.json").read_bytes())["dangerous_intersections"]
    assert [d["fixed_on"] for d in listed] == [None, "2026-11-21", None]
    with pytest.raises(SystemExit):
        main(["offline", *common, "--fix-hazard", "here@tomorrow", "--out", str(tmp_path / "c")])
    capsys.readouterr()
    assert main(["offline", *common, "--fix-hazard", "0,0@2026-11-21", "--out", str(tmp_path / "d")]) == 2
    assert "no dangerous intersection within 60 m of 0.0,0.0" in capsys.readouterr().err
