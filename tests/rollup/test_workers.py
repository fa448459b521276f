"""Rollup workers side by side (rollup/queue.py): two `fleetpilot rollup` processes on one
database, one SIGKILLed while it holds a claim; the other takes the claim over when its lease
runs out. Every shift is written exactly once and the result equals a single worker's; so does
`fleetpilot rollup --workers 2`. Real PostgreSQL, real processes, a real SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import asyncpg
from support import run

from fleetpilot.db.importer import init_codecs
from fleetpilot.rollup.job import run_rollup
from fleetpilot.simload import load_run
from fleetsim.offline import generate_fleet

RESULTS = {
    "shift_metrics": "SELECT * FROM shift_metrics ORDER BY shift_id",
    "shift_events": "SELECT * FROM shift_events ORDER BY shift_id, ts, kind",
    "cell_exposure": "SELECT * FROM cell_exposure ORDER BY shift_id, cell_id",
    "segment_exposure": "SELECT * FROM segment_exposure ORDER BY shift_id, segment_id",
    "whatif_legs": "SELECT * FROM whatif_legs ORDER BY shift_id, leg",
    "whatif_stop_visits": "SELECT * FROM whatif_stop_visits ORDER BY shift_id, stop_seq",
}
# Test-only: who wrote each shift's metrics (a committed write only), read from the queue row
# the writer still holds inside its writing transaction.
WRITTEN = """
CREATE TABLE written (shift_id text, worker text);
CREATE FUNCTION log_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO written SELECT n.shift_id, q.claimed_by FROM new_rows n LEFT JOIN rollup_queue q USING (shift_id);
    RETURN NULL;
END $$;
CREATE TRIGGER log_written AFTER INSERT ON shift_metrics REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION log_written();
"""
LEASE_S = 3


def _snapshot(conn) -> dict:
    async def body():
        await init_codecs(conn)  # jsonb as objects on every connection that reads
        out = {}
        for table, query in RESULTS.items():
            rows = [dict(r) for r in await conn.fetch(query)]
            for r in rows:
                r.pop("computed_at", None)
                r.pop("id", None)
            out[table] = rows
        return out

    return body()


def _worker(db_url: str, *extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "FLEETPILOT_DATABASE_URL": db_url,
        "FLEETPILOT_ROLLUP_DATABASE_URL": db_url,
        "FLEETPILOT_TIMEZONE": "UTC",
        "FLEETPILOT_ENV_FILE": "/nonexistent",
    }
    command = [sys.executable, "-m", "fleetpilot.cli", "rollup", "--batch", "1", "--lease", str(LEASE_S), *extra]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_two_workers_and_a_sigkill_give_what_one_worker_gives(db_url):
    start = (datetime.now(timezone.utc) - timedelta(days=2)).strftime("%Y-%m-%dT06:00:00Z")
    fleet = generate_fleet(n_vehicles=5, days=1, seed=3, hours=2.0, start=start)

    async def single() -> tuple[dict, list[str]]:
        conn = await asyncpg.connect(db_url)
        try:
            await load_run(conn, fleet)
            await run_rollup(conn, tz="UTC", whatif=True, batch_size=1)
            ids = [r["shift_id"] for r in await conn.fetch("SELECT shift_id FROM shifts ORDER BY shift_id")]
            return await _snapshot(conn), ids
        finally:
            await conn.close()

    reference, shift_ids = run(single())
    assert len(shift_ids) == 5 and len(reference["shift_metrics"]) == 5 and reference["whatif_legs"]

    async def reset(conn) -> None:
        # Forget the metrics: every shift is pending again (the other tables are replaced).
        await conn.execute("DELETE FROM shift_metrics; DELETE FROM written")

    async def until(query: str, arg, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await conn.fetchval(query, *arg)
            if value:
                return value
            await asyncio.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}")

    async def side_by_side() -> dict:
        nonlocal conn, held
        conn = await asyncpg.connect(db_url)
        try:
            return await steps()
        finally:
            for c in (held, conn):
                if c is not None:
                    await c.close()

    async def steps() -> dict:
        nonlocal held, a, b
        await conn.execute(WRITTEN)
        await reset(conn)
        a = _worker(db_url)
        claim = "SELECT shift_id FROM rollup_queue WHERE claimed_by LIKE '%' || $1"
        victim = await until(claim, [f":{a.pid}"], 120, "worker A to claim a shift")
        # Keep A from finishing its batch: its writing transaction waits for this row lock.
        held = await asyncpg.connect(db_url)
        await held.execute("BEGIN")
        await held.execute("SELECT 1 FROM rollup_queue WHERE shift_id = $1 FOR SHARE", victim)
        b = _worker(db_url)
        blocked = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = $1"
        await until(blocked, ["Lock"], 60, "worker A to wait inside its write")
        a.send_signal(signal.SIGKILL)
        assert await asyncio.to_thread(a.wait, 30) == -signal.SIGKILL
        await held.execute("ROLLBACK")  # B may claim the shift once A's lease has run out
        out, _ = await asyncio.to_thread(b.communicate, timeout=180)
        assert b.returncode == 0, out.decode()[-3000:]
        result = {
            "victim": victim,
            "written": await conn.fetch("SELECT shift_id, worker FROM written ORDER BY shift_id"),
            "queue_left": await conn.fetchval("SELECT count(*) FROM rollup_queue"),
            "after_kill": await _snapshot(conn),
        }
        await reset(conn)
        both = _worker(db_url, "--workers", "2")
        out2, _ = await asyncio.to_thread(both.communicate, timeout=180)
        assert both.returncode == 0, out2.decode()[-3000:]
        result["two_workers"] = await _snapshot(conn)
        result["written_two"] = await conn.fetch("SELECT shift_id FROM written ORDER BY shift_id")
        return result

    conn = held = None
    a = b = None
    try:
        result = run(side_by_side())
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
    victim, written, queue_left = result["victim"], result["written"], result["queue_left"]

    # Every shift written exactly once (no double, none missed); A's held shift by B.
    assert [w["shift_id"] for w in written] == shift_ids
    writers = {w["shift_id"]: w["worker"] for w in written}
    assert writers[victim].endswith(f":{b.pid}")
    assert queue_left == 0
    assert result["after_kill"] == reference
    assert [w["shift_id"] for w in result["written_two"]] == shift_ids
    assert result["two_workers"] == reference
