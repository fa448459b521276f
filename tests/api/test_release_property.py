"""Issue 13, item 1: every door that releases a figure about a group to anyone but its owner
answers from released (unit, ISO week) blocks only (decision 0004), whatever ranges and
filters are asked for.

Four copies of the seeded world (tests/api/conftest.py; k = 5 shifts, 3 drivers), each
behind its own app:

- ``base``: as seeded. Withheld blocks: r-north weeks 2 (one driver) and 3 (3 shifts),
  r-south (2 shifts); cell 1 and segment seg-a in weeks 2 and 3; cell 2 (r-south only).
- ``hidden``: every figure inside those withheld blocks changed (metrics, missed segments,
  passes, events), a shift added to week 2 (the same one driver), a shift removed from
  week 3, two helpers added to week 2's crews (k counts drivers): every block stays withheld.
- ``without``: the withheld blocks' data deleted.
- ``control``: figures inside a *released* block (r-north / cell 1 / seg-a, week 1) changed.

Hypothesis draws two overlapping day ranges and a filter per door and asks every door with
both ranges in ``base``, ``hidden`` and ``without``:
(b) ``hidden`` answers exactly as ``base``: a change inside a withheld block changes no answer;
(a) ``without`` answers as ``base`` once the bookkeeping of withheld blocks (suppressed weeks
    listed with null figures, counts of suppressed cells) is set aside: every figure is a
    function of released blocks alone, so the difference of any two answers is too.
``control`` proves the drive can see a change (a released block's change changes answers).

The doors are enumerated from the app: DOORS classifies every operation, a new one fails
``test_every_operation_is_classified`` until it is, and every door classified as releasing
a group figure must be driven here (or, for what-if, in tests/whatif/test_release_property.py).
The run's counts are printed (pytest -s) and written to FLEETPILOT_RELEASE_COUNTS when set.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import run, with_database

from fleetpilot.api.app import create_app
from fleetpilot.api.exports.service import DATASETS
from fleetpilot.api.ogc.layers import LAYERS
from fleetpilot.rollup.blocks import refresh_blocks

pytestmark = pytest.mark.integration

# --- every operation of the app, classified ------------------------------------------------

GROUP = "releases figures about groups: driven below"
WHATIF = "releases what-if answers about groups: driven in tests/whatif/test_release_property.py"
OPEN_DATA = "serves the open-data bundle: its build (bundle.build, `fleetpilot release`) is driven below"
OWN = "the signed-in driver's own data (decision: the owner sees their own)"
INDIVIDUAL = "one shift or vehicle, audited or without people (SHIFT_LOOKUP / SHIFT_FOR_PURPOSE), no group figure"
LIVE = "on-duty vehicles' latest positions now (policy.live_scope), no figure over a group or period"
PLANS = "the city's own plans, facilities or catalogues: no person's data"
ADMIN = "administration (admin only): users, devices, settings, audit"
ACCOUNT = "sign-in and the caller's own account"
DEVICE = "device doors (HTTP ingest): writes, answers nothing about groups"
PUBLIC = "public pages from settings and counters only (transparency, health, metrics)"
METADATA = "OGC landing page, conformance and collection metadata: no figures"
OWN_RULE = "hazard list: its own k on distinct reporters (api/hazards/service.city_list), not shift blocks"

DOORS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/efficiency/routes"): GROUP,
    ("GET", "/api/v1/routes/{route_id}/efficiency"): GROUP,
    ("GET", "/api/v1/routes/{route_id}/coverage"): GROUP,
    ("GET", "/api/v1/routes/{route_id}/compare"): GROUP,  # how the shifts of two plan versions worked out
    ("GET", "/api/v1/routes/workload"): GROUP,  # workload per route
    ("GET", "/api/v1/hotspots/segments"): GROUP,
    ("GET", "/api/v1/hotspots/cells"): GROUP,
    ("GET", "/api/v1/exports/{dataset}"): GROUP,
    ("GET", "/ogc/collections/{collection_id}/items"): GROUP,
    ("GET", "/ogc/collections/{collection_id}/items/{feature_id}"): GROUP,
    ("POST", "/api/v1/whatif/scenarios/{name}"): WHATIF,
    ("POST", "/api/v1/routes/workload/rebalance"): WHATIF,  # the rebalance scenario for the plans page
    ("POST", "/api/v1/whatif/questions/{question_id}"): WHATIF,
    ("GET", "/api/v1/whatif/results/{result_id}"): WHATIF,
    ("GET", "/api/v1/whatif/results"): WHATIF,  # summaries of stored answers: inputs, no figures
    ("GET", "/open-data/latest/{file}"): OPEN_DATA,
    ("GET", "/api/v1/live/vehicles"): LIVE,
    ("GET", "/api/v1/complaints/tally"): GROUP,
    ("GET", "/api/v1/goals/scorecard"): GROUP,
    ("GET", "/api/v1/goals/report"): GROUP,  # its HTML (figures: inline SVG) driven; the PDF is that HTML
    ("GET", "/api/v1/goals/catalogue"): PLANS,
    ("GET", "/api/v1/goals"): PLANS,  # the goals' definitions (targets), no figures
    ("PUT", "/api/v1/goals/{goal_id}"): PLANS,
    ("GET", "/api/v1/hazards"): GROUP,  # its own k on reporters too; a fixed hazard's before/after from blocks
    ("GET", "/api/v1/hazards/fixed"): GROUP,  # every role: the fixed hazards' before/after
    ("PATCH", "/api/v1/hazards/{hazard_id}"): OWN_RULE,  # the city's status of a hazard on that list
    ("GET", "/api/v1/me/hazards"): OWN,
    ("POST", "/api/v1/me/hazards"): OWN,
    ("GET", "/api/v1/me/shifts/{shift_id}/causes"): OWN,
    ("POST", "/api/v1/me/shifts/{shift_id}/causes"): OWN,
    ("POST", "/api/v1/whatif/sessions"): WHATIF,
    ("GET", "/api/v1/whatif/sessions"): WHATIF,
    ("GET", "/api/v1/whatif/sessions/{session_id}"): WHATIF,
    ("POST", "/api/v1/whatif/sessions/{session_id}/questions"): WHATIF,
    ("PUT", "/api/v1/whatif/sessions/{session_id}/questions/{question_id}/triage"): WHATIF,
    ("GET", "/api/v1/whatif/sessions/{session_id}/export"): WHATIF,
    ("GET", "/api/v1/complaints"): INDIVIDUAL,  # evidence names a truck, a segment and a day; no person
    ("GET", "/api/v1/complaints.csv"): INDIVIDUAL,  # the same queue as the 311 team's file
    ("GET", "/api/v1/shifts"): INDIVIDUAL,
    ("POST", "/api/v1/shifts/{shift_id}/open"): INDIVIDUAL,
    ("GET", "/api/v1/me/complaints"): OWN,
    ("GET", "/api/v1/me/shifts"): OWN,
    ("GET", "/api/v1/me/shifts/{shift_id}"): OWN,
    ("GET", "/api/v1/me/shifts/{shift_id}/track"): OWN,
    ("GET", "/api/v1/me/trends"): OWN,
    ("GET", "/api/v1/me/plan"): OWN,  # the plan of my route (the city's streets) and what changed
    ("GET", "/api/v1/me/access-log"): OWN,
    ("GET", "/api/v1/me/export"): OWN,
    ("GET", "/api/v1/city"): PLANS,
    ("GET", "/api/v1/routes"): PLANS,
    ("GET", "/api/v1/routes/plans.geojson"): PLANS,
    ("POST", "/api/v1/routes/plans"): PLANS,
    ("GET", "/api/v1/routes/{route_id}"): GROUP,  # its versions: shifts driven in released weeks
    ("PATCH", "/api/v1/routes/{route_id}"): PLANS,
    ("DELETE", "/api/v1/routes/{route_id}"): PLANS,
    ("GET", "/api/v1/routes/{route_id}/plan.geojson"): PLANS,
    ("POST", "/api/v1/routes/predict"): GROUP,  # an edited plan's predicted figures, from route history
    ("POST", "/api/v1/routes/balance"): GROUP,  # segment moves chosen by predicted shift lengths
    ("POST", "/api/v1/routes/{route_id}/improve"): PLANS,  # a driving order on the street network
    ("PUT", "/api/v1/routes/{route_id}/plan"): PLANS,
    ("GET", "/api/v1/exports"): PLANS,  # the list of data sets
    ("GET", "/api/v1/whatif"): PLANS,  # the catalogue of questions
    ("GET", "/ogc"): METADATA,
    ("GET", "/ogc/conformance"): METADATA,
    ("GET", "/ogc/collections"): METADATA,
    ("GET", "/ogc/collections/{collection_id}"): METADATA,
    ("GET", "/health"): PUBLIC,
    ("GET", "/transparency"): PUBLIC,
    ("GET", "/api/v1/transparency"): PUBLIC,
    ("GET", "/api/v1/ingest/metrics"): PUBLIC,
    ("POST", "/api/v1/auth/token"): ACCOUNT,
    ("GET", "/api/v1/auth/me"): ACCOUNT,
    ("POST", "/api/v1/auth/logout"): ACCOUNT,
    ("POST", "/api/v1/auth/password"): ACCOUNT,
    ("POST", "/api/v1/ingest/traccar"): DEVICE,
    ("POST", "/api/v1/ingest/owntracks"): DEVICE,
    **dict.fromkeys(
        (
            ("GET", "/api/v1/admin/users"),
            ("POST", "/api/v1/admin/users"),
            ("PATCH", "/api/v1/admin/users/{user_id}"),
            ("GET", "/api/v1/admin/people"),
            ("GET", "/api/v1/admin/vehicles"),
            ("POST", "/api/v1/admin/vehicles"),
            ("GET", "/api/v1/admin/devices"),
            ("POST", "/api/v1/admin/devices"),
            ("PATCH", "/api/v1/admin/devices/{device_id}"),
            ("GET", "/api/v1/admin/privacy"),
            ("PUT", "/api/v1/admin/privacy"),
            ("GET", "/api/v1/admin/privacy/zones"),
            ("POST", "/api/v1/admin/privacy/zones"),
            ("DELETE", "/api/v1/admin/privacy/zones/{zone_id}"),
            ("POST", "/api/v1/admin/retention/run"),
            ("GET", "/api/v1/admin/audit"),
            ("GET", "/api/v1/admin/api-keys"),
            ("POST", "/api/v1/admin/api-keys"),
            ("DELETE", "/api/v1/admin/api-keys/{key_id}"),
            ("GET", "/api/v1/admin/skew-held"),  # counts of messages held for clock skew, per unit
            ("POST", "/api/v1/admin/vehicles/{vehicle_id}/skew-replay"),
        ),
        ADMIN,
    ),
}


def _operations(app) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops}


# --- the four worlds -------------------------------------------------------------------------


def _weeks(world) -> tuple[date, date, date]:
    """Mondays of weeks 1, 2 and 4 of the seeded world."""
    return world.week1, world.week1 + timedelta(weeks=1), world.week1 + timedelta(weeks=3)


async def _hide_changes(conn, world) -> None:
    """Change everything inside the withheld blocks; every one of them stays withheld."""
    _, w2, w4 = _weeks(world)
    withheld = "(route_id = 'r-south' OR (route_id = 'r-north' AND day >= $1 AND day < $2))"
    await conn.execute(
        f"UPDATE shift_metrics SET distance_m = distance_m * 3 + 7, deadhead_m = 31000, coverage = 0.123, "
        f"collection_s = 3333, idle_s = 4444, facility_s = 5, dwell_mean_s = 99, turnaround_s = 4321, "
        f"missed_segments = ARRAY['seg-a', 'seg-b'] WHERE {withheld}",
        w2,
        w4,
    )
    # Causes of the withheld shifts' misses: the crew's, and a blocked-street report on each (decision 0021).
    await conn.execute(
        "INSERT INTO missed_causes (shift_id, segment_id, cause, client_key, made_at) "
        f"SELECT shift_id, 'seg-a', 'parked_cars', 'hidden-key-' || shift_id, now() FROM shift_metrics WHERE {withheld}",
        w2,
        w4,
    )
    await conn.execute(
        "INSERT INTO hazards (place_key, segment_id, category, lon, lat) VALUES ('seg-b', 'seg-b', 'blocked_street', "
        "13.41, 52.505)"
    )
    await conn.execute(
        "INSERT INTO hazard_reports (hazard_id, person_id, client_key, shift_id, lon, lat, located_by, made_at) "
        "SELECT (SELECT hazard_id FROM hazards WHERE place_key = 'seg-b'), 'p-ana', 'hidden-' || shift_id, shift_id, "
        f"13.41, 52.505, 'map', now() FROM shift_metrics WHERE {withheld}",
        w2,
        w4,
    )
    await conn.execute(
        "UPDATE cell_exposure SET passes = passes * 5 + 1, harsh_brake = harsh_brake + 4, speeding = 0 "
        "WHERE (day >= $1 AND day < $2) OR cell_id = 2",
        w2,
        w4,
    )
    await conn.execute(
        "UPDATE segment_exposure SET passes = 40, harsh_brake = 9, speeding = 3, mean_speed_mps = 15 "
        "WHERE day >= $1 AND day < $2",
        w2,
        w4,
    )
    await conn.execute(
        f"UPDATE complaints SET verdict = CASE verdict WHEN 'missed' THEN 'serviced' ELSE 'missed' END "
        f"WHERE {withheld.replace('day', 'collection_day')}",
        w2,
        w4,
    )
    await conn.execute(
        f"UPDATE complaints SET cause = 'no_access' WHERE verdict = 'missed' AND {withheld.replace('day', 'collection_day')}",
        w2,
        w4,
    )
    await conn.execute(
        "INSERT INTO complaints (service_request_id, requested_at, verdict, route_id, collection_day) "
        "SELECT 'sr-more-' || n, $1::date + time '09:00', 'missed', 'r-north', $1::date FROM generate_series(1, 4) n",
        w2 + timedelta(days=2),
    )
    # One more shift in week 2 (Sunday), by its one driver: still one person.
    sunday = w2 + timedelta(days=6)
    extra = f"{sunday}-truck-1-ana-extra"
    await conn.execute(
        "INSERT INTO shifts VALUES ($1, 'truck-1', 'r-north', 1, $2::date + time '06:00' AT TIME ZONE 'UTC', "
        "$2::date + time '14:00' AT TIME ZONE 'UTC')",
        extra,
        sunday,
    )
    await conn.execute("INSERT INTO shift_crew (shift_id, person_id) VALUES ($1, 'p-ana')", extra)
    await conn.execute(
        "INSERT INTO shift_metrics (shift_id, vehicle_id, route_id, day, fixes, distance_m, on_route_m, deadhead_m,"
        " collection_s, deadhead_s, facility_s, break_s, idle_s, stops, dwell_mean_s, turnaround_s, coverage,"
        " missed_segments, metrics) VALUES ($1, 'truck-1', 'r-north', $2, 100, 99000, 1, 77000, 1, 1, 1, 1, 1, 1,"
        " 1, 1, 0.01, ARRAY['seg-b'], '{}')",
        extra,
        sunday,
    )
    await conn.execute(
        "INSERT INTO cell_exposure (cell_id, day, shift_id, passes, harsh_brake, speeding) VALUES (1, $1, $2, 70, 30, 5)",
        sunday,
        extra,
    )
    await conn.execute(
        "INSERT INTO segment_exposure (segment_id, day, shift_id, passes, harsh_brake, speeding, mean_speed_mps) "
        "VALUES ('seg-a', $1, $2, 70, 30, 5, 20)",
        sunday,
        extra,
    )
    # Helpers on week 2's shifts: three people per shift, still one driver (decision 0009).
    await conn.execute(
        "INSERT INTO shift_crew (shift_id, person_id, crew_role) "
        "SELECT m.shift_id, p.person_id, 'helper' FROM shift_metrics m, (VALUES ('p-zz-ben'), ('p-zz-cai')) p(person_id) "
        "WHERE m.route_id = 'r-north' AND m.day >= $1 AND m.day < $2",
        w2,
        w2 + timedelta(weeks=1),
    )
    # One shift fewer in week 3 (2 left: still under k).
    gone = await conn.fetchval(
        "SELECT shift_id FROM shift_metrics WHERE route_id = 'r-north' AND day >= $1 AND day < $2 "
        "ORDER BY day DESC LIMIT 1",
        w2 + timedelta(weeks=1),
        w4,
    )
    for table in ("cell_exposure", "segment_exposure", "shift_metrics"):
        await conn.execute(f"DELETE FROM {table} WHERE shift_id = $1", gone)


async def _remove_hidden(conn, world) -> None:
    """Delete the withheld blocks' data: what a release from released blocks alone sees."""
    _, w2, w4 = _weeks(world)
    await conn.execute(
        "DELETE FROM shift_metrics WHERE route_id = 'r-south' OR (route_id = 'r-north' AND day >= $1 AND day < $2)",
        w2,
        w4,
    )
    await conn.execute("DELETE FROM cell_exposure WHERE (day >= $1 AND day < $2) OR cell_id = 2", w2, w4)
    await conn.execute("DELETE FROM segment_exposure WHERE day >= $1 AND day < $2", w2, w4)
    await conn.execute(
        "DELETE FROM complaints WHERE route_id = 'r-south' "
        "OR (route_id = 'r-north' AND collection_day >= $1 AND collection_day < $2)",
        w2,
        w4,
    )


async def _change_released(conn, world) -> None:
    """Change figures inside released blocks (week 1 of r-north, cell 1, seg-a)."""
    w1, w2, _ = _weeks(world)
    await conn.execute(
        "UPDATE shift_metrics SET distance_m = distance_m * 2, coverage = 0.5, missed_segments = ARRAY['seg-b'] "
        "WHERE route_id = 'r-north' AND day >= $1 AND day < $2",
        w1,
        w2,
    )
    # ... and one of them missed seg-b for a cause (decision 0021).
    await conn.execute(
        "INSERT INTO missed_causes (shift_id, segment_id, cause, client_key, made_at) "
        "SELECT shift_id, 'seg-b', 'bins_not_out', 'control-key-1', now() FROM shift_metrics "
        "WHERE route_id = 'r-north' AND day >= $1 AND day < $2 ORDER BY day LIMIT 1",
        w1,
        w2,
    )
    await conn.execute(
        "UPDATE cell_exposure SET passes = passes + 2, harsh_brake = harsh_brake + 3, harsh_accel = 2, "
        "harsh_corner = 1, speeding = speeding + 1 WHERE cell_id = 1 AND day >= $1 AND day < $2",
        w1,
        w2,
    )
    await conn.execute(
        "UPDATE segment_exposure SET passes = passes + 1, harsh_brake = harsh_brake + 2, speeding = 1 "
        "WHERE day >= $1 AND day < $2",
        w1,
        w2,
    )
    await conn.execute(
        "UPDATE complaints SET verdict = 'missed' WHERE route_id = 'r-north' AND collection_day >= $1 "
        "AND collection_day < $2",
        w1,
        w2,
    )
    # ... and one more shift in it, a copy of its first one a day later (the versions' counts of
    # shifts driven see it).
    first = await conn.fetchval(
        "SELECT shift_id FROM shift_metrics WHERE route_id = 'r-north' AND day >= $1 AND day < $2 ORDER BY day LIMIT 1",
        w1,
        w2,
    )
    copy = f"{first}-control"
    await conn.execute(
        "INSERT INTO shifts (shift_id, vehicle_id, route_id, route_version, starts_at, ends_at) "
        "SELECT $2, vehicle_id, route_id, route_version, starts_at + interval '1 day', ends_at + interval '1 day' "
        "FROM shifts WHERE shift_id = $1",
        first,
        copy,
    )
    await conn.execute(
        "INSERT INTO shift_crew (shift_id, person_id, crew_role) SELECT $2, person_id, crew_role FROM shift_crew "
        "WHERE shift_id = $1",
        first,
        copy,
    )
    await conn.execute(
        "CREATE TEMP TABLE control_copy AS SELECT * FROM shift_metrics WHERE shift_id = $1".replace("$1", f"'{first}'")
    )
    await conn.execute("UPDATE control_copy SET shift_id = $1, day = day + 1", copy)
    await conn.execute("INSERT INTO shift_metrics SELECT * FROM control_copy")
    await conn.execute("DROP TABLE control_copy")


CHANGES = {"base": None, "hidden": _hide_changes, "without": _remove_hidden, "control": _change_released}


@dataclass
class Worlds:
    clients: dict[str, TestClient]
    tokens: dict[str, dict[str, str]]  # world -> role -> token (each app has its own keys)
    world: object
    urls: dict[str, str]
    tally: Counter = field(default_factory=Counter)
    ranges: set = field(default_factory=set)
    filters: set = field(default_factory=set)
    doors: set = field(default_factory=set)
    settings: dict = field(default_factory=dict)  # world -> its app's Settings (for the commands)


# 311 complaints answered by the record: one per shift with metrics, serviced or missed.
COMPLAINTS = """
INSERT INTO complaints (service_request_id, requested_at, verdict, segment_id, route_id, vehicle_id, collection_day)
SELECT 'sr-' || m.shift_id, m.day + time '18:00', CASE WHEN m.coverage > 0.85 THEN 'serviced' ELSE 'missed' END,
       'seg-c', m.route_id, m.vehicle_id, m.day
FROM shift_metrics m
"""


# One goal per KPI of the catalogue, the same in every world, so the scorecard answers them all.
GOALS = """
INSERT INTO goals (goal_id, version, kpi, title, definition, baseline_from, baseline_to, target, direction, department,
                   created_by)
SELECT 'g-' || replace(kpi, '_', '-'), 1, kpi, 'goal ' || kpi, 'the property test''s goal for ' || kpi, $1, $2, 1.0,
       'at_most', 'tests', 'test'
FROM unnest($3::text[]) AS kpi
"""


# A dangerous corner on seg-a, reported by ana and fixed on the Wednesday of week 2: its
# before/after reads week 1 (released) before and weeks 3 on (week 3 withheld) after.
FIXED_HAZARD = """
WITH h AS (
    INSERT INTO hazards (place_key, segment_id, category, lon, lat, status, fix_what, fixed_on)
    VALUES ('seg-a', 'seg-a', 'dangerous_intersection', 13.405, 52.5, 'fixed', 'signal retimed', $1)
    RETURNING hazard_id
)
INSERT INTO hazard_reports (hazard_id, person_id, client_key, lon, lat, located_by, made_at)
SELECT hazard_id, 'p-ana', 'property-key-1', 13.4051, 52.5001, 'map', $1::date + time '07:00' FROM h
"""


async def _prepare(url: str, world, change) -> None:
    import asyncpg

    from fleetpilot.analytics.goals import KPIS

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(COMPLAINTS)
        await conn.execute(GOALS, world.week1, world.week1 + timedelta(weeks=2), sorted(KPIS))
        await conn.execute(FIXED_HAZARD, world.week1 + timedelta(weeks=1, days=2))
        await refresh_blocks(conn)  # week blocks built: changes below are read as stale days
        if change is not None:
            await change(conn, world)
    finally:
        await conn.close()


def _api_conftest(config):
    """tests/api/conftest.py as pytest loaded it (its helpers build the world copies)."""
    for plugin in config.pluginmanager.get_plugins():
        if getattr(plugin, "__file__", "").endswith(os.path.join("tests", "api", "conftest.py")):
            return plugin
    raise LookupError("tests/api/conftest.py is not loaded")


@pytest.fixture(scope="module")
def worlds(request, pg_admin_url, world_template, tmp_path_factory):
    here = _api_conftest(request.config)
    _world_copy, _settings, tokens_for, _drop_database = (
        here._world_copy,
        here._settings,
        here.tokens_for,
        here._drop_database,
    )
    names, clients, stack, urls, settings_ = [], {}, [], {}, {}
    try:
        tokens, world = {}, None
        for label, change in CHANGES.items():
            name, world = _world_copy(pg_admin_url, world_template)
            names.append(name)
            urls[label] = with_database(pg_admin_url, name)
            run(_prepare(urls[label], world, change))
            settings_[label] = _settings(urls[label], tmp_path_factory.mktemp(label))
            app = create_app(settings_[label], pool_size=2, warm_up=False)
            client = TestClient(app)
            client.__enter__()
            stack.append(client)
            clients[label] = client
            tokens[label] = tokens_for(app, world)
        found = Worlds(clients, tokens, world, urls, settings=settings_)
        yield found
        _report(found)
    finally:
        for client in stack:
            client.__exit__(None, None, None)
        for name in names:
            run(_drop_database(pg_admin_url, name))


def _report(found: Worlds) -> None:
    counts = {
        "doors": len(found.doors),
        "door_variants": sorted(found.doors),
        "ranges": len(found.ranges),
        "filters": len(found.filters),
        "questions": sum(found.tally.values()),
        "per_door": dict(sorted(found.tally.items())),
        "worlds_compared": ["base=hidden (exact)", "base=without (released figures)"],
        "own_rule": sorted(f"{m} {p}" for (m, p), kind in DOORS.items() if kind == OWN_RULE),
    }
    line = json.dumps(counts, default=str)
    print(f"\nrelease property (aggregate doors): {line}")
    if os.environ.get("FLEETPILOT_RELEASE_COUNTS"):
        with open(os.environ["FLEETPILOT_RELEASE_COUNTS"], "a") as out:
            out.write(line + "\n")


# --- asking the doors ------------------------------------------------------------------------


def _rows_csv(body: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(body.decode())))


def _rows_parquet(body: bytes) -> list[dict]:
    return pq.read_table(io.BytesIO(body)).to_pylist()


def _answer(response) -> object:
    """Status and body of an answer, in a form that compares by value."""
    kind = response.headers.get("content-type", "")
    if response.status_code != 200:
        return response.status_code, response.text
    if "csv" in kind:
        return 200, _rows_csv(response.content)
    if "parquet" in kind:
        return 200, _rows_parquet(response.content)
    if "html" in kind:
        return 200, _report_text(response.text)
    return 200, _stable(response.json())


def _report_text(html: str) -> str:
    """The pilot report without the time it was generated."""
    return re.sub(r"Generated [^.]*\.", "Generated.", html)


# What the report says of withheld weeks (decision 0004's bookkeeping): a world without them
# says "no data" instead, with the same figures.
REPORT_BOOKKEEPING = (
    (r"Groups withheld: \d+ of \d+ route-weeks", "Groups withheld: n of n route-weeks"),
    (r">k</text>", ">–</text>"),
    (r" \(withheld, k\)", ""),
    (r" — its data were withheld \(fewer than k shifts or drivers\)", ""),
    (r"every week of this period was withheld: fewer than k shifts or k drivers in each route-week\.", ""),
)


def _stable(value: object) -> object:
    """Without when each world's own records were written (the goals' `created_at`)."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k != "created_at"}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


@dataclass(frozen=True)
class Ask:
    door: tuple[str, str]
    path: str
    params: tuple[tuple[str, str], ...]
    role: str
    body: str | None = None  # JSON of a POST door's body

    def of(self, found: Worlds, label: str) -> object:
        headers = {"Authorization": f"Bearer {found.tokens[label][self.role]}"}
        client = found.clients[label]
        if self.body is not None:
            headers["Content-Type"] = "application/json"
            return _answer(client.post(self.path, params=dict(self.params), headers=headers, content=self.body))
        return _hazard_figures(self.door, _answer(client.get(self.path, params=dict(self.params), headers=headers)))


HAZARD_LISTS = ("/api/v1/hazards", "/api/v1/hazards/fixed")


def _hazard_figures(door: tuple[str, str], answer: object) -> object:
    """Of the hazard lists, the figures built from blocks: each fixed hazard's before/after.
    Their rows follow decision 0019's own k on reporters (tests/api/test_hazards.py), and the
    hidden world files crews' reports on withheld shifts (decision 0021's causes): a new row
    there is a report, not a block's figure."""
    status, body = answer
    if door[1] not in HAZARD_LISTS or status != 200:
        return answer
    return status, [(h["hazard_id"], h["place"], h["effect"]) for h in body["hazards"] if h["effect"] is not None]


def _days(days: tuple[date, date]) -> tuple[tuple[str, str], ...]:
    return (("from", days[0].isoformat()), ("to", days[1].isoformat()))


def _interval(days: tuple[date, date]) -> str:
    return f"{days[0].isoformat()}/{(days[1] - timedelta(days=1)).isoformat()}"


TEMPORAL_LAYERS = sorted(layer.id for layer in LAYERS.values() if layer.temporal)
SEGMENT_KINDS = ("harsh_brake", "speeding")
CELL_KINDS = ("harsh_brake", "harsh_accel", "harsh_corner", "speeding")
EXPORTS = sorted((d.name, kind) for d in DATASETS.values() for kind in (d.kinds or ("harsh_brake",)))
# Edited plans for the prediction and balance doors: unchanged, shorter, moved between routes.
PLANS_EDITED = (
    (("r-north", ("seg-a", "seg-b", "seg-c")), ("r-south", ("seg-a", "seg-b", "seg-c"))),
    (("r-north", ("seg-a", "seg-b")), ("r-south", ("seg-c",))),
    (("r-north", ("seg-c", "seg-b")), ("r-south", ("seg-a",))),
)
BOXES = (None, "13.39,52.49,13.42,52.52", "13.404,52.499,13.406,52.501", "13.0,52.0,13.401,52.505")

filters = st.fixed_dictionaries(
    {
        "bucket": st.sampled_from(("week", "month")),
        "route": st.sampled_from(("r-north", "r-south")),
        "segment_kind": st.sampled_from(SEGMENT_KINDS),
        "cell_kind": st.sampled_from(CELL_KINDS),
        "min_passes": st.sampled_from((None, 1, 5, 30)),
        "min_level": st.sampled_from(("all", "elevated", "significant")),
        "export": st.sampled_from(EXPORTS),
        "format": st.sampled_from(("csv", "geojson", "parquet")),
        "layer": st.sampled_from(TEMPORAL_LAYERS),
        "bbox": st.sampled_from(BOXES),
        "plan": st.sampled_from(PLANS_EDITED),
    }
)


def _asks(days: tuple[date, date], f: dict) -> list[Ask]:
    """One question per group door (and its filters) over `days`."""
    d = _days(days)
    passes = () if f["min_passes"] is None else (("min_passes", str(f["min_passes"])),)
    dataset, kind = f["export"]
    ogc = (("datetime", _interval(days)), *((("bbox", f["bbox"]),) if f["bbox"] else ()), ("limit", "10000"))
    plans = [{"route_id": r, "segments": list(segs), "stops": len(segs)} for r, segs in f["plan"]]
    return [
        Ask(
            ("POST", "/api/v1/routes/predict"), "/api/v1/routes/predict", d, "supervisor", json.dumps({"routes": plans})
        ),
        Ask(
            ("POST", "/api/v1/routes/balance"),
            "/api/v1/routes/balance",
            d,
            "supervisor",
            json.dumps({"routes": plans, "tolerance_h": 0.0}),
        ),
        Ask(
            ("GET", "/api/v1/efficiency/routes"),
            "/api/v1/efficiency/routes",
            (*d, ("bucket", f["bucket"])),
            "supervisor",
        ),
        Ask(
            ("GET", "/api/v1/routes/{route_id}/efficiency"),
            f"/api/v1/routes/{f['route']}/efficiency",
            (*d, ("bucket", f["bucket"])),
            "data_officer",
        ),
        Ask(("GET", "/api/v1/routes/{route_id}/coverage"), f"/api/v1/routes/{f['route']}/coverage", d, "supervisor"),
        Ask(
            ("GET", "/api/v1/routes/{route_id}/compare"),
            f"/api/v1/routes/{f['route']}/compare",
            (*d, ("a", "1"), ("b", "1")),
            "supervisor",
        ),
        Ask(("GET", "/api/v1/routes/workload"), "/api/v1/routes/workload", d, "data_officer"),
        # No range: each version's shifts are counted over all its released weeks.
        Ask(("GET", "/api/v1/routes/{route_id}"), f"/api/v1/routes/{f['route']}", (), "supervisor"),
        Ask(("GET", "/api/v1/complaints/tally"), "/api/v1/complaints/tally", d, "data_officer"),
        Ask(("GET", "/api/v1/goals/scorecard"), "/api/v1/goals/scorecard", d, "driver"),  # every role opens it
        Ask(("GET", "/api/v1/goals/report"), "/api/v1/goals/report", (*d, ("format", "html")), "supervisor"),
        Ask(
            ("GET", "/api/v1/hotspots/segments"),
            "/api/v1/hotspots/segments",
            (*d, ("kind", f["segment_kind"]), *passes, ("min_level", f["min_level"])),
            "supervisor",
        ),
        Ask(
            ("GET", "/api/v1/hotspots/cells"),
            "/api/v1/hotspots/cells",
            (*d, ("kind", f["cell_kind"]), *passes, ("min_level", f["min_level"])),
            "data_officer",
        ),
        Ask(
            ("GET", "/api/v1/exports/{dataset}"),
            f"/api/v1/exports/{dataset}",
            (*d, ("kind", kind), ("format", f["format"])),
            "data_officer",
        ),
        Ask(
            ("GET", "/ogc/collections/{collection_id}/items"),
            f"/ogc/collections/{f['layer']}/items",
            ogc,
            "data_officer",
        ),
        # No range: a fixed hazard's before/after is over the weeks around its fix.
        Ask(("GET", "/api/v1/hazards"), "/api/v1/hazards", (), "supervisor"),
        Ask(("GET", "/api/v1/hazards/fixed"), "/api/v1/hazards/fixed", (), "driver"),
    ]


# Feature ids a hostile reader would try: withheld weeks, routes, cells and segments.
def _probe_ids(world, layer: str) -> list[str]:
    weeks = [(world.week1 + timedelta(weeks=n)).isoformat() for n in range(4)]
    if layer == "route-efficiency":
        return [f"{r}:{w}" for r in ("r-north", "r-south") for w in weeks]
    if layer == "route-coverage":
        return [f"{r}:{s}" for r in ("r-north", "r-south") for s in (1, 2, 3)]
    return ["1", "2", "seg-a", "seg-b"]


# --- what is compared --------------------------------------------------------------------------


def _without_withheld(group: dict) -> dict:
    """A plan version's or route's figures without the count of its withheld weeks."""
    return {**group, "performance": {k: v for k, v in group["performance"].items() if k != "withheld_weeks"}}


def _released_only(door: tuple[str, str], answer: object) -> object:
    """The answer without the bookkeeping of withheld blocks (decision 0004 lists withheld
    weeks with null figures and counts suppressed cells): what must equal the answer of a
    world without them."""
    status, body = answer
    if status != 200:
        return answer
    path = door[1]
    if path in ("/api/v1/efficiency/routes", "/api/v1/routes/{route_id}/efficiency"):
        routes = body if isinstance(body, list) else [body]
        kept = []
        for route in routes:
            route = {**route, "periods": [p for p in route["periods"] if not p["suppressed"]]}
            if route["periods"] or not isinstance(body, list):
                kept.append(route)
        return status, kept
    if path == "/api/v1/routes/{route_id}/compare":
        return status, {**body, **{side: _without_withheld(body[side]) for side in ("a", "b")}}
    if path == "/api/v1/routes/workload":
        return status, {**body, "routes": [_without_withheld(r) for r in body["routes"]]}
    if path == "/api/v1/complaints/tally":
        return status, {**body, "cells": [c for c in body["cells"] if c["released"]]}
    if path == "/api/v1/goals/scorecard":
        # Withheld weeks are named as such (a world without them says "no data"); the figures
        # must be the same.
        plain = {"partly withheld (k)": "ok", "withheld (k)": "no data"}
        goals = [
            {
                **g,
                "suppressed": False,
                "note": None if g["suppressed"] else g["note"],
                "weeks": [{**w, "status": plain.get(w["status"], w["status"])} for w in g["weeks"]],
            }
            for g in body["goals"]
        ]
        return status, {k: v for k, v in body.items() if k not in ("cells", "withheld_cells")} | {"goals": goals}
    if path == "/api/v1/goals/report":
        for pattern, plain in REPORT_BOOKKEEPING:
            body = re.sub(pattern, plain, body)
        return status, body
    if path.startswith("/api/v1/hotspots/"):
        return status, {k: v for k, v in body.items() if k not in ("suppressed_units", "suppressed_cells")}
    if path == "/api/v1/exports/{dataset}" and isinstance(body, list):
        return status, [r for r in body if str(r.get("suppressed", "")).lower() not in ("true", "1")]
    if path == "/api/v1/exports/{dataset}" and isinstance(body, dict):  # GeoJSON
        features = [f for f in body["features"] if not f["properties"].get("suppressed")]
        return status, {**body, "features": features}
    return answer


def _check(found: Worlds, ask: Ask) -> object:
    base = ask.of(found, "base")
    assert base[0] == 200, (ask, base)
    assert ask.of(found, "hidden") == base, f"a change inside a withheld block changed {ask}"
    without = ask.of(found, "without")
    assert _released_only(ask.door, without) == _released_only(ask.door, base), (
        f"{ask} holds something of a withheld block"
    )
    found.tally[ask.door[1]] += 1
    found.doors.add(ask.path)
    found.filters.add(ask.params[2:] if ask.params[:1] and ask.params[0][0] == "from" else ask.params[1:])
    return base


@st.composite
def overlapping_ranges(draw) -> tuple[tuple[date, date], tuple[date, date]]:
    """Two day ranges that share at least one day, around the world's four weeks."""
    first = draw(st.integers(-10, 27))
    length = draw(st.integers(1, 40))
    other_length = draw(st.integers(1, 40))
    shift = draw(st.integers(-other_length + 1, length - 1))
    return (first, first + length), (first + shift, first + shift + other_length)


@settings(max_examples=20, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(ranges=overlapping_ranges(), chosen=filters)
def test_every_group_door_answers_from_released_blocks_only(worlds, ranges, chosen):
    week1 = worlds.world.week1
    for first, last in ranges:
        days = (week1 + timedelta(days=first), week1 + timedelta(days=last))
        worlds.ranges.add(days)
        for ask in _asks(days, chosen):
            base = _check(worlds, ask)
            if ask.door[1] == "/ogc/collections/{collection_id}/items":
                layer = ask.path.split("/")[3]
                ids = {f["id"] for f in base[1]["features"]} | set(_probe_ids(worlds.world, layer))
                for feature_id in sorted(ids):
                    one = Ask(
                        ("GET", "/ogc/collections/{collection_id}/items/{feature_id}"),
                        f"/ogc/collections/{layer}/items/{feature_id}",
                        (("datetime", _interval(days)),),
                        "data_officer",
                    )
                    first_answer = one.of(worlds, "base")
                    assert first_answer[0] in (200, 404), first_answer
                    assert one.of(worlds, "hidden") == first_answer
                    assert one.of(worlds, "without") == first_answer
                    worlds.tally[one.door[1]] += 1


def test_every_operation_is_classified(worlds):
    """A new endpoint fails here until it is classified; a group door must be driven."""
    operations = _operations(worlds.clients["base"].app)
    assert operations - set(DOORS) == set(), "endpoints not classified in DOORS"
    assert set(DOORS) - operations == set(), "DOORS lists endpoints that no longer exist"
    driven = {a.door for a in _asks((worlds.world.week1, worlds.world.week1 + timedelta(days=7)), FIRST)}
    driven.add(("GET", "/ogc/collections/{collection_id}/items/{feature_id}"))
    assert {op for op, kind in DOORS.items() if kind == GROUP} == driven
    import whatif.test_release_property as whatif_doors

    assert {op for op, kind in DOORS.items() if kind == WHATIF} == set(whatif_doors.DRIVEN)


FIRST = {
    "bucket": "week",
    "route": "r-north",
    "segment_kind": "harsh_brake",
    "cell_kind": "harsh_brake",
    "min_passes": 1,
    "min_level": "all",
    "export": ("route_efficiency", "harsh_brake"),
    "format": "csv",
    "layer": "route-efficiency",
    "bbox": None,
    "plan": PLANS_EDITED[1],
}


def test_the_drive_sees_a_change_in_a_released_block(worlds):
    """The control: each door (every export, layer and kind) answers differently when a
    released block changes, so the equalities above are not blind."""
    days = (worlds.world.week1, worlds.world.week1 + timedelta(weeks=4))
    variants = [FIRST]
    variants += [{**FIRST, "export": e, "format": fmt} for e in EXPORTS for fmt in ("csv", "geojson", "parquet")]
    variants += [{**FIRST, "layer": layer} for layer in TEMPORAL_LAYERS]
    variants += [{**FIRST, "segment_kind": k, "cell_kind": c} for k, c in zip(SEGMENT_KINDS * 2, CELL_KINDS)]
    blind = set()
    for chosen in variants:
        for ask in _asks(days, chosen):
            if ask.of(worlds, "control") == ask.of(worlds, "base"):
                blind.add(ask.path + "?" + "&".join(f"{k}={v}" for k, v in ask.params[2:]))
    # The layers and data sets of kinds the control does not touch may stay equal; nothing else.
    untouched = ("harsh-corner", "harsh_corner", "harsh-accel", "harsh_accel", "speeding")
    # Balance reads history only when every route given has released shifts; r-south never has
    # in this world, so its answer here is from the plans alone (its "plan model" basis).
    plan_only = "/api/v1/routes/balance?"
    assert {b for b in blind if not any(u in b for u in untouched) and not b.startswith(plan_only)} == set()


# --- the open-data bundle (`fleetpilot release`) ------------------------------------------------


def _bundle(url: str, days: tuple[date, date], out) -> dict[str, object]:
    from fleetpilot.api.release.bundle import release

    made = run(release(url, days, out))
    files = {}
    for resource in made.package["resources"]:
        path = out / resource["path"]
        if path.suffix == ".parquet":
            files[resource["path"]] = _rows_parquet(path.read_bytes())
        else:
            files[resource["path"]] = path.read_bytes()
    return files


@settings(max_examples=2, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(ranges=overlapping_ranges())
def test_the_open_data_bundle_holds_released_blocks_only(worlds, tmp_path_factory, ranges):
    week1 = worlds.world.week1
    for first, last in ranges:
        days = (week1 + timedelta(days=first), week1 + timedelta(days=last))
        out = tmp_path_factory.mktemp("bundle")
        base = _bundle(worlds.urls["base"], days, out / "base")
        assert _bundle(worlds.urls["hidden"], days, out / "hidden") == base
        assert _bundle(worlds.urls["without"], days, out / "without") == base
        worlds.tally["fleetpilot release (bundle.build)"] += 1
        worlds.ranges.add(days)


# --- the pilot report as the command writes it (`fleetpilot report`) ----------------------------


def _report_files(settings, days: tuple[date, date], out) -> tuple[str, str]:
    """The HTML the command writes (without its time) and the text of its PDF."""
    import argparse
    import subprocess

    from fleetpilot.commands import report

    args = argparse.Namespace(start=days[0], end=days[1], out=out)
    assert report.run(args, settings) == 0
    (html,) = out.glob("*.html")
    (pdf,) = out.glob("*.pdf")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    # The time it was generated, however the PDF's lines wrap it.
    return _report_text(html.read_text()), re.sub(r"Generated\s+\d+\s+\w+\s+\d{4}\s+\d\d:\d\d\s+\S+", "", text)


@settings(max_examples=2, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(ranges=overlapping_ranges())
def test_the_pilot_report_command_holds_released_blocks_only(worlds, tmp_path_factory, ranges):
    """`fleetpilot report` (HTML and PDF): equal in the world whose withheld blocks changed,
    and, the bookkeeping of withheld weeks aside, in the world without them."""
    week1 = worlds.world.week1
    door = ("GET", "/api/v1/goals/report")
    for first, last in ranges:
        days = (week1 + timedelta(days=first), week1 + timedelta(days=last))
        out = tmp_path_factory.mktemp("report")
        html, pdf = _report_files(worlds.settings["base"], days, out / "base")
        assert _report_files(worlds.settings["hidden"], days, out / "hidden") == (html, pdf)
        without, _ = _report_files(worlds.settings["without"], days, out / "without")
        assert _released_only(door, (200, without)) == _released_only(door, (200, html))
        worlds.tally["fleetpilot report (HTML and PDF)"] += 1
        worlds.ranges.add(days)
