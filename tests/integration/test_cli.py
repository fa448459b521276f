"""The fleetpilot CLI as a user runs it: real processes, real servers, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "fleetpilot.cli"]


def fleetpilot(*args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 120):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLEETPILOT_")}
    return subprocess.run([*CLI, *args], env={**clean, **env}, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_migrate_then_doctor_on_a_configured_empty_database(fresh_db, mqtt_url, tmp_path):
    env = {"FLEETPILOT_DATABASE_URL": fresh_db, "FLEETPILOT_MQTT_URL": mqtt_url, "FLEETPILOT_DATA_DIR": str(tmp_path)}
    before = fleetpilot("doctor", "--json", env=env)
    assert before.returncode == 1  # migrations pending
    assert json.loads(before.stdout)["database"]["storage_mode"] is None

    first = fleetpilot("migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert "applied 0001_core" in first.stdout
    second = fleetpilot("migrate", env=env)
    assert "nothing to apply" in second.stdout

    doctor = fleetpilot("doctor", "--json", env=env)
    report = json.loads(doctor.stdout)
    # Healthy, unless TimescaleDB background jobs fail and nothing keeps them on cadence (decision 0003).
    uncovered = [j for j in report["database"].get("timescaledb_failed_jobs", []) if not j["covered"]]
    assert doctor.returncode == (1 if uncovered else 0), doctor.stdout
    assert report["database"]["source"] == "configured"
    assert report["database"]["pending"] == []
    assert report["database"]["storage_mode"] == (
        "timescale" if report["database"]["timescaledb_installed"] else "native"
    )
    assert report["broker"] == {**report["broker"], "reachable": True, "source": "configured"}
    text = fleetpilot("doctor", env=env).stdout
    assert "storage mode: native" in text or "storage mode: timescale" in text


def test_embedded_default_when_no_url_is_configured(tmp_path):
    env = {"FLEETPILOT_DATA_DIR": str(tmp_path / "data")}
    try:
        migrated = fleetpilot("migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        assert "storage mode: native" in migrated.stdout  # pgserver has no TimescaleDB
        doctor = fleetpilot("doctor", "--json", env=env)
        report = json.loads(doctor.stdout)
        assert doctor.returncode == 0, doctor.stdout
        assert report["database"]["source"] == "embedded" and report["database"]["pending"] == []
        assert report["broker"]["source"] == "embedded" and report["broker"]["mqtt_protocol"] == "3.1.1"
    finally:
        stopped = fleetpilot("stop", env=env)
    assert "PostgreSQL" in stopped.stdout and "MQTT broker" in stopped.stdout


@pytest.mark.parametrize(
    "url, message",
    [
        ("postgresql://postgres@127.0.0.1:1/x", "connection refused"),
        ("mysql://db/x", "must start with postgresql://"),
        ("postgresql://postgres@127.0.0.1:5432/fleetpilot_no_such_db", "database does not exist"),
    ],
)
def test_unreachable_or_malformed_database_is_one_clear_line(url, message, pg_admin_url):
    if "127.0.0.1:5432" in url and "127.0.0.1:5432" not in pg_admin_url:
        url = url.replace("postgresql://postgres@127.0.0.1:5432", pg_admin_url.rsplit("/", 1)[0])
    result = fleetpilot("migrate", env={"FLEETPILOT_DATABASE_URL": url})
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_unreachable_broker_is_reported_by_doctor(db_url):
    result = fleetpilot("doctor", env={"FLEETPILOT_DATABASE_URL": db_url, "FLEETPILOT_MQTT_URL": "mqtt://127.0.0.1:1"})
    assert result.returncode == 1
    assert "connection refused at 127.0.0.1:1" in result.stdout
    assert "Traceback" not in result.stderr


def test_bad_setting_value_is_one_clear_line():
    result = fleetpilot("migrate", env={"FLEETPILOT_RETENTION_DAYS": "ninety"})
    assert result.returncode == 2
    assert "retention_days" in result.stderr and "Traceback" not in result.stderr
