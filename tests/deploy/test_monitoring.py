"""The shipped monitoring: alerting rules valid for Prometheus and unit-tested with promtool,
and every metric the rules and the Grafana dashboard name is one the services export."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fleetpilot.ingest.metrics import IngestMetrics
from fleetpilot.rollup.metrics import RollupMetrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "fleetpilot-alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "fleetpilot-alerts.test.yml"
DASHBOARD = DEPLOY / "grafana" / "fleetpilot-ingest-rollup.json"
METRIC = re.compile(r"\b(fleetpilot_[a-z_]+)")


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        pytest.fail(
            "promtool not found: `./fp test` installs Debian's prometheus package; or apt-get install prometheus"
        )
    return found


def exported() -> set[str]:
    """Every sample name the ingest and rollup services can export."""
    names = set()
    for registry in (IngestMetrics().registry, RollupMetrics().registry):
        for family in registry.collect():
            suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}.get(family.type, ("",))
            names |= {family.name + s for s in suffixes}
    return names


def test_rules_pass_promtool_check():
    out = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_rules_fire_as_their_unit_tests_say():
    out = subprocess.run(
        [promtool(), "test", "rules", RULE_TESTS.name],
        cwd=RULE_TESTS.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_rules_and_dashboard_name_only_exported_metrics():
    known = exported()
    rules = set(METRIC.findall(RULES.read_text()))
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    panels = set(METRIC.findall("\n".join(exprs)))
    assert rules and panels
    assert not rules - known, f"rules name metrics nobody exports: {sorted(rules - known)}"
    assert not panels - known, f"the dashboard names metrics nobody exports: {sorted(panels - known)}"
    # The stranded-share and stall signals of issue 19 are alerted on and shown.
    for name in ("fleetpilot_ingest_stranded_sessions", "fleetpilot_ingest_stalled", "fleetpilot_rollup_runs_total"):
        assert name in rules and name in panels


def test_promtool_rejects_a_broken_rule(tmp_path):
    """The check can fail: a rule with an invalid expression is refused."""
    broken = tmp_path / "broken.yml"
    broken.write_text(RULES.read_text().replace("== 1", "== == 1", 1))
    out = subprocess.run([promtool(), "check", "rules", str(broken)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
