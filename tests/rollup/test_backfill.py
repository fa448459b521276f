"""A backfill shows its progress and, interrupted, continues where it stopped: `fleetpilot
rollup --progress` prints done/total shifts, rate and ETA per written batch; a run SIGKILLed
after some batches leaves the rest queued, and the next plain `fleetpilot rollup` computes only
that rest (every shift written exactly once over both runs). Real PostgreSQL, real processes."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import asyncpg
from support import run

from fleetpilot.rollup.progress import Progress
from fleetpilot.simload import load_run
from fleetsim.offline import generate_fleet

# Test-only: every committed write of a shift's metrics (as in test_workers.py).
WRITTEN = """
CREATE TABLE written (shift_id text);
CREATE FUNCTION log_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO written SELECT n.shift_id FROM new_rows n;
    RETURN NULL;
END $$;
CREATE TRIGGER log_written AFTER INSERT ON shift_metrics REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION log_written();
"""
LINE = re.compile(r"rollup: (\d+)/(\d+) shifts \(\d+%\), [\d,]+ shifts/h, [\d,]+ fixes/s, elapsed \d+:\d\d:\d\d, ETA ")


def _rollup(db_url: str, *extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "FLEETPILOT_DATABASE_URL": db_url,
        "FLEETPILOT_ROLLUP_DATABASE_URL": db_url,
        "FLEETPILOT_TIMEZONE": "UTC",
        "FLEETPILOT_ENV_FILE": "/nonexistent",
    }
    command = [sys.executable, "-m", "fleetpilot.cli", "rollup", "--batch", "1", "--lease", "2", *extra]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_an_interrupted_backfill_continues_where_it_stopped_and_shows_progress(db_url):
    start = (datetime.now(timezone.utc) - timedelta(days=2)).strftime("%Y-%m-%dT06:00:00Z")
    fleet = generate_fleet(n_vehicles=6, days=1, seed=11, hours=1.5, start=start)

    async def prepare() -> list[str]:
        conn = await asyncpg.connect(db_url)
        try:
            await load_run(conn, fleet)
            await conn.execute(WRITTEN)
            return [r["shift_id"] for r in await conn.fetch("SELECT shift_id FROM shifts ORDER BY shift_id")]
        finally:
            await conn.close()

    async def fetch(query: str):
        conn = await asyncpg.connect(db_url)
        try:
            return await conn.fetch(query)
        finally:
            await conn.close()

    shift_ids = run(prepare())
    total = len(shift_ids)
    assert total == 6

    # The backfill, killed once two batches are written.
    first = _rollup(db_url, "--all", "--progress")
    assert first.stderr is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = first.stderr.readline()
            assert line, f"the run ended before two batches: {lines}"
            lines.append(line.strip())
            m = LINE.search(line)
            if m and int(m.group(1)) >= 2:
                break
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
    shown = [LINE.search(x) for x in lines]
    assert all(shown), lines  # one progress line per written batch, nothing else
    assert [int(m.group(2)) for m in shown] == [total] * len(shown)  # done/total of the whole queue
    assert [int(m.group(1)) for m in shown] == list(range(len(shown)))  # 0, 1, 2: batch by batch
    done_before = {r["shift_id"] for r in run(fetch("SELECT shift_id FROM written"))}
    assert 2 <= len(done_before) < total
    assert len(run(fetch("SELECT shift_id FROM rollup_queue"))) == total - len(done_before)

    # Resumed by a plain run: only the rest, each shift once.
    second = _rollup(db_url, "--progress")
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err[-3000:]
    rest = [LINE.search(x) for x in err.splitlines()]
    assert all(rest) and rest, err
    assert int(rest[0].group(1)) == 0 and int(rest[0].group(2)) == total - len(done_before)
    assert int(rest[-1].group(1)) == int(rest[-1].group(2)) == total - len(done_before)
    written = [r["shift_id"] for r in run(fetch("SELECT shift_id FROM written ORDER BY shift_id"))]
    assert written == shift_ids  # none twice, none missed
    assert not run(fetch("SELECT 1 FROM rollup_queue"))
    assert f'"shifts": {total - len(done_before)}' in out


def test_progress_line_and_bar():
    now = [100.0]
    stream = io.StringIO()
    progress = Progress(stream, tty=False, clock=lambda: now[0])
    progress.start(40)
    now[0] += 10.0
    progress.advance(10, 350_000)
    assert stream.getvalue().splitlines() == [
        "rollup: 0/40 shifts (0%), 0 shifts/h, 0 fixes/s, elapsed 0:00:00, ETA ?",
        "rollup: 10/40 shifts (25%), 3,600 shifts/h, 35,000 fixes/s, elapsed 0:00:10, ETA 0:00:30",
    ]
    tty = io.StringIO()
    bar = Progress(tty, tty=True, clock=lambda: now[0])
    bar.start(4)
    now[0] += 2.0
    bar.left(1)  # another worker's progress, seen in the queue
    bar.finish()
    assert tty.getvalue().endswith(
        "\r[##################......] rollup: 3/4 shifts (75%), 5,400 shifts/h, "
        "0 fixes/s, elapsed 0:00:02, ETA 0:00:01\x1b[K\n"
    )
