"""`fleetpilot demo` end to end: simulator → real broker → ingest → real PostgreSQL → rollups → API.

The simulator's ground truth says exactly which fixes and events each unit published
(duplicates, replays after outages and all); the database must hold each of them once.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone

from support import run, with_conn


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_stores_exactly_what_the_trucks_published(fresh_db, mqtt_url, tmp_path):
    city = f"e2e{uuid.uuid4().hex[:6]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETPILOT_")} | {
        "FLEETPILOT_DATABASE_URL": fresh_db,
        "FLEETPILOT_MQTT_URL": mqtt_url,
        "FLEETPILOT_DATA_DIR": str(tmp_path),
        "FLEETPILOT_CITY": city,
        "FLEETPILOT_API_PORT": str(_free_port()),
        "FLEETPILOT_METRICS_PORT": str(_free_port()),
    }
    demo = subprocess.run(
        [
            sys.executable,
            "-m",
            "fleetpilot.cli",
            "demo",
            "--vehicles",
            "3",
            "--history-days",
            "1",
            "--accel",
            "4000",
            "--once",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert re.search(r"open http://127\.0\.0\.1:\d+/", demo.stdout)

    truth = json.loads((tmp_path / "demo" / "live" / "truth.json").read_text())
    expected = {
        vid: (v["counts"]["fixes_expected_stored"], v["counts"]["events_expected_stored"])
        for vid, v in truth["vehicles"].items()
    }
    live_start = datetime.fromtimestamp(min(s["start"] for s in truth["shifts"]) / 1000, timezone.utc)

    async def stored(conn):
        fixes = {
            r["vehicle_id"]: r["n"]
            for r in await conn.fetch(
                "SELECT vehicle_id, count(*) AS n FROM fixes WHERE ts >= $1 GROUP BY 1", live_start
            )
        }
        events = {
            r["vehicle_id"]: r["n"]
            for r in await conn.fetch(
                "SELECT vehicle_id, count(*) AS n FROM events WHERE ts >= $1 GROUP BY 1", live_start
            )
        }
        pending = await conn.fetchval(
            "SELECT count(*) FROM shifts s WHERE NOT EXISTS "
            "(SELECT 1 FROM shift_metrics m WHERE m.shift_id = s.shift_id)"
        )
        return fixes, events, pending, await conn.fetchval("SELECT count(*) FROM rejects")

    fixes, events, pending, rejects = run(with_conn(fresh_db, stored))
    assert {vid: (fixes.get(vid, 0), events.get(vid, 0)) for vid in expected} == expected
    assert pending == 0 and rejects == 0  # every shift rolled up; nothing malformed in a clean run

    # The printed logins work against the API the demo set up.
    logins = json.loads((tmp_path / "demo" / "logins.json").read_text())
    assert set(logins) == {"driver", "supervisor", "data_officer", "admin"}
    api = subprocess.Popen(
        [sys.executable, "-m", "fleetpilot.cli", "api"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        base = f"http://127.0.0.1:{env['FLEETPILOT_API_PORT']}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/health", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "API did not start"
                time.sleep(0.3)
        form = urllib.parse.urlencode(
            {"username": logins["driver"]["username"], "password": logins["driver"]["password"]}
        ).encode()
        with urllib.request.urlopen(base + "/api/v1/auth/token", data=form, timeout=10) as response:
            assert json.loads(response.read())["access_token"]
    finally:
        api.terminate()
        api.wait(timeout=15)
