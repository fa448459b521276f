"""TimescaleDB jobs the upkeep runs itself when the scheduler fails them (rollup/tsjobs.py).

The choice of jobs is pure and tested here on any server; running them (CALL run_job) needs
TimescaleDB, which this machine lacks: in native mode the upkeep must do nothing about jobs.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import asyncpg
import pytest
from support import run

from fleetpilot.rollup import tsjobs
from fleetpilot.rollup.tsjobs import JobState, due
from fleetpilot.rollup.upkeep import upkeep

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


def job(job_id: int, status: str | None, last_success: datetime | None, every: timedelta = HOUR, **kw) -> JobState:
    return JobState(job_id, "policy_compression", "fixes", every, status, last_success, **kw)


def test_a_failing_job_is_due_once_its_interval_has_passed():
    jobs = [
        job(1, "Failed", NOW - 2 * HOUR),  # the scheduler failed it and no success for 2 intervals
        job(2, "Failed", NOW - 0.5 * HOUR),  # failed, but succeeded half an interval ago
        job(3, "Success", NOW - 5 * HOUR),  # healthy scheduler (late, but its own business)
        job(4, "Failed", None),  # never succeeded
        job(5, None, None),  # never ran yet
    ]
    assert [j.job_id for j in due(jobs, NOW)] == [1, 4]


def test_the_upkeeps_own_runs_keep_a_job_on_cadence():
    jobs = [job(1, "Failed", NOW - 10 * HOUR, every=12 * HOUR), job(2, "Failed", NOW - 20 * HOUR, every=12 * HOUR)]
    ran = {1: NOW - 13 * HOUR, 2: NOW - 3 * HOUR}
    # Job 1: 10 h since the scheduler's success, inside its 12 h; job 2: the upkeep ran it 3 h ago.
    assert due(jobs, NOW, ran) == []
    assert [j.job_id for j in due(jobs, NOW + 3 * HOUR, ran)] == [1]
    assert [j.job_id for j in due(jobs, NOW + 9 * HOUR, ran)] == [1, 2]


def test_the_known_upstream_cause_is_recognised_and_the_scheduler_cadence_measured():
    failing = job(
        1,
        "Failed",
        NOW - 20 * HOUR,
        every=12 * HOUR,
        last_run_started_at=NOW - 20 * HOUR,
        next_start=NOW,
        last_sqlstate="24000",
        last_error='cannot drop portal "" while it is being set up',
    )
    assert failing.known_cause
    assert failing.effective_interval() == 20 * HOUR
    assert not job(2, "Failed", None, last_sqlstate="57014", last_error="canceling statement").known_cause


def test_in_native_mode_the_upkeep_runs_no_jobs(db_url):
    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            if await tsjobs.installed(conn):
                # Tested in that mode by tests/integration/test_timescale.py (the scheduler's jobs).
                pytest.skip("the test server runs TimescaleDB mode; this test is about native mode")
            assert await tsjobs.run_due(conn, NOW) == []
            return await upkeep(conn, 2)
        finally:
            await conn.close()

    assert run(body()).timescale_jobs_run == ()
