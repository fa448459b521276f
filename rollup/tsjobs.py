"""TimescaleDB's background jobs, run by the rollup upkeep when the scheduler cannot run them.

Why (decision 0003): TimescaleDB 2.28.3's scheduler on PostgreSQL 15.20 fails every job
with SQLSTATE 24000 `cannot drop portal "" while it is being set up` — the scheduler creates
a portal it never starts and drops it after the job, which 15.20's `PortalDrop` refuses (15.18
has no such check). The job's work commits, but the failure makes the scheduler back off:
compression ran about every 20 h instead of 12 h, the hourly refresh about every 75 min
instead of 15. `CALL run_job(id)` runs the same jobs without that portal and succeeds.

So the upkeep (each `fleetpilot rollup --every` cycle) reads the jobs' state and runs a job
itself when the scheduler's last run of it failed and its last success is one schedule
interval old (or it never succeeded): the jobs keep their intended cadence whatever the
scheduler's health, to within the service's period. A healthy scheduler is left alone.

Who runs them: TimescaleDB lets only members of a job's owner run it, and the owner is the
tables' owner (compression needs it), not the rollup service's least-privilege role. A
SECURITY DEFINER wrapper does not work: run_job then runs atomically, and compression's
per-chunk COMMIT fails (`portal snapshots (1) did not account for all active snapshots`),
continuous-aggregate refreshes refuse (`refresh_continuous_aggregate() cannot be executed
from a function`); seen on 2.28.3. So `run_due` runs the CALLs on a connection of the
owner's URL (FLEETPILOT_DATABASE_URL, the migrating role) when one is given, opened only
when a job is due; the state is read on the service's own connection.

`due` is pure (tested without TimescaleDB); `run_due` and `job_states` need the extension.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

# The upstream failure, as TimescaleDB reports it in job_errors.
KNOWN_CAUSE_SQLSTATE = "24000"
KNOWN_CAUSE_TEXT = 'cannot drop portal "" while it is being set up'
KNOWN_CAUSE = (
    "TimescaleDB's scheduler fails every job on PostgreSQL 15.20 (SQLSTATE 24000 "
    '`cannot drop portal "" while it is being set up`; decision 0003); the rollup upkeep runs the jobs '
    "itself with CALL run_job"
)

JOB_STATES = """
SELECT j.job_id, j.proc_name, j.hypertable_name, j.schedule_interval,
       s.last_run_status, s.last_successful_finish, s.last_run_started_at, s.next_start,
       s.total_failures,
       (SELECT e.sqlerrcode FROM timescaledb_information.job_errors e
        WHERE e.job_id = j.job_id ORDER BY e.start_time DESC LIMIT 1) AS last_sqlstate,
       (SELECT e.err_message FROM timescaledb_information.job_errors e
        WHERE e.job_id = j.job_id ORDER BY e.start_time DESC LIMIT 1) AS last_error
FROM timescaledb_information.jobs j
JOIN timescaledb_information.job_stats s USING (job_id)
WHERE j.scheduled
ORDER BY j.job_id
"""
RECORD_RUN = """
INSERT INTO fleetpilot_meta (key, value) VALUES ($1, $2)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
"""


@dataclass(frozen=True)
class JobState:
    job_id: int
    proc_name: str
    hypertable: str | None
    schedule_interval: timedelta
    last_run_status: str | None  # "Success", "Failed", or None (never ran)
    last_successful_finish: datetime | None
    last_run_started_at: datetime | None = None
    next_start: datetime | None = None
    total_failures: int = 0
    last_sqlstate: str | None = None
    last_error: str | None = None

    @property
    def known_cause(self) -> bool:
        """The failure is the upstream scheduler incompatibility, not the job's own."""
        return self.last_sqlstate == KNOWN_CAUSE_SQLSTATE or KNOWN_CAUSE_TEXT in (self.last_error or "")

    def effective_interval(self) -> timedelta | None:
        """How often the scheduler actually gets to it now: from its last run's start to its
        next start (the back-off after failures); None when unknown."""
        if self.last_run_started_at is None or self.next_start is None:
            return None
        return self.next_start - self.last_run_started_at


def due(jobs: list[JobState], now: datetime, ran_by_upkeep: dict[int, datetime] | None = None) -> list[JobState]:
    """The jobs the upkeep runs now: the scheduler's last run failed, and neither the scheduler
    nor the upkeep has run it successfully within one schedule interval."""
    ran_by_upkeep = ran_by_upkeep or {}
    out = []
    for job in jobs:
        if job.last_run_status != "Failed":
            continue  # healthy (or not yet run): the scheduler's business
        last = max(
            (t for t in (job.last_successful_finish, ran_by_upkeep.get(job.job_id)) if t is not None), default=None
        )
        if last is None or now - last >= job.schedule_interval:
            out.append(job)
    return out


def meta_key(job_id: int) -> str:
    return f"timescaledb_job_{job_id}_run_by_upkeep"


async def installed(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"))


def _finite(t: datetime | None) -> datetime | None:
    """`t`, or None for TimescaleDB's "never" (a job that never succeeded has
    last_successful_finish -infinity, which asyncpg gives as a naive datetime.min)."""
    return t if t is not None and t.tzinfo is not None else None


async def job_states(conn: asyncpg.Connection) -> list[JobState]:
    rows = await conn.fetch(JOB_STATES)
    return [
        JobState(
            r["job_id"],
            r["proc_name"],
            r["hypertable_name"],
            r["schedule_interval"],
            r["last_run_status"],
            _finite(r["last_successful_finish"]),
            _finite(r["last_run_started_at"]),
            _finite(r["next_start"]),
            r["total_failures"] or 0,
            r["last_sqlstate"],
            r["last_error"],
        )
        for r in rows
    ]


async def runs_by_upkeep(conn: asyncpg.Connection) -> dict[int, datetime]:
    rows = await conn.fetch(
        "SELECT key, value FROM fleetpilot_meta WHERE key LIKE 'timescaledb\\_job\\_%\\_run\\_by\\_upkeep'"
    )
    return {int(r["key"].split("_")[2]): datetime.fromisoformat(r["value"]) for r in rows}


async def run_due(conn: asyncpg.Connection, now: datetime, owner_url: str | None = None) -> list[int]:
    """Run the due jobs with CALL run_job (each commits its own work) — on a connection of
    `owner_url` when given (the jobs' owner; see above), else on `conn` — and return their
    ids. Must run outside a transaction (run_job commits)."""
    if not await installed(conn):
        return []
    jobs = due(await job_states(conn), now, await runs_by_upkeep(conn))
    if not jobs:
        return []
    runner = await asyncpg.connect(owner_url) if owner_url else conn
    ran = []
    try:
        for job in jobs:
            await runner.execute("CALL run_job($1)", job.job_id)
            await conn.execute(RECORD_RUN, meta_key(job.job_id), now.isoformat())
            ran.append(job.job_id)
    finally:
        if runner is not conn:
            await runner.close()
    return ran
