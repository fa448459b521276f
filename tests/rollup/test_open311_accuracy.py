"""311 verdict accuracy against the simulator's truth: shifts with blocked (skipped) streets
are simulated, stored and rolled up; complaints are made on truly skipped segments and on
serviced ones (a third of them with only an address), after each shift; the record's verdict
(fleetpilot.open311.evidence) must agree with the truth on at least 98 %. Prints the figure."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import asyncpg
import orjson
import pytest
import shapely
from support import run

from fleetpilot.open311.evidence import evidence
from fleetpilot.open311.match import street_key
from fleetpilot.open311.records import Complaint
from fleetpilot.rollup.job import run_rollup
from fleetpilot.simload import load_run
from fleetsim.config import Behaviour
from fleetsim.offline import generate_fleet

pytestmark = pytest.mark.integration
PLANNED = """
SELECT rs.route_id, rs.segment_id, st.name, rs.geometry
FROM route_segments rs JOIN routes r ON r.route_id = rs.route_id AND r.current_version = rs.version
LEFT JOIN street_segments st ON st.segment_id = rs.segment_id
WHERE rs.service
"""


def _utc_day(instant: datetime):
    return instant.astimezone(timezone.utc).date()


def test_verdicts_agree_with_the_simulators_truth(db_url):
    start = (datetime.now(timezone.utc) - timedelta(days=3)).strftime("%Y-%m-%dT06:00:00Z")
    fleet = generate_fleet(
        n_vehicles=4, days=3, seed=11, hours=10.0, start=start, behaviour=Behaviour(p_blocked_street=1.0)
    )
    pick = random.Random(5)

    async def body():
        conn = await asyncpg.connect(db_url)
        await conn.set_type_codec(
            "jsonb", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads, schema="pg_catalog"
        )
        try:
            await load_run(conn, fleet)
            await run_rollup(conn)
            planned = await conn.fetch(PLANNED)
            by_route: dict[str, list] = {}
            for r in planned:
                by_route.setdefault(r["route_id"], []).append(r)
            results = []
            # Shifts that finished their route: in a cut-short one every segment not reached is
            # missed too, and the truth lists only the blocked ones it skipped.
            done = [s for s in fleet.truth["shifts"] if s["completed"]]
            assert len(done) >= 6
            # Per day, what every shift skipped: an address names a street, which may lie on several routes.
            skipped_on: dict[int, set[str]] = {}
            for s in fleet.truth["shifts"]:
                skipped_on.setdefault(s["start"] // 86_400_000, set()).update(s["skipped_segments"])
            for n, shift in enumerate(done):
                segments = by_route.get(shift["route_id"], [])
                skipped = set(shift["skipped_segments"])
                missed = [r for r in segments if r["segment_id"] in skipped]
                served = [r for r in segments if r["segment_id"] not in skipped]
                chosen = [(r, True) for r in missed] + [
                    (r, False) for r in pick.sample(served, min(len(served), len(missed) + 2))
                ]
                at = datetime.fromtimestamp(shift["end"] / 1000, timezone.utc) + timedelta(minutes=30)
                for i, (row, truly_missed) in enumerate(chosen):
                    line = shapely.geometry.shape(row["geometry"])
                    middle = line.interpolate(0.5, normalized=True)
                    address_only = (i + n) % 3 == 0 and row["name"]
                    if address_only:
                        street = street_key(row["name"])
                        same_street = {r["segment_id"] for r in planned if street_key(r["name"]) == street}
                        truly_missed = bool(same_street & skipped_on[shift["start"] // 86_400_000])
                        complaint = Complaint(
                            f"c{n}-{i}", "SAN-MISSED", "open", None, at, at, None, None, f"12 {row['name']}"
                        )
                    else:
                        complaint = Complaint(f"c{n}-{i}", "SAN-MISSED", "open", None, at, at, middle.x, middle.y, None)
                    found = await evidence(conn, complaint, _utc_day)
                    results.append((truly_missed, found.verdict, bool(address_only)))
            return results
        finally:
            await conn.close()

    results = run(body())
    agree = sum(
        (verdict == "missed") == truly_missed and verdict in ("missed", "serviced")
        for truly_missed, verdict, _ in results
    )
    missed = sum(t for t, _, _ in results)
    addressed = sum(a for _, _, a in results)
    share = agree / len(results)
    print(
        f"311 verdict accuracy: {agree}/{len(results)} = {share:.1%} "
        f"({missed} on truly skipped segments, {len(results) - missed} on serviced ones, {addressed} address-only)"
    )
    assert missed >= 5 and addressed >= 5
    assert share >= 0.98
