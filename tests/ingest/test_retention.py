"""Rejects (dead letters, numbers removed) are purged by the retention job after their own,
shorter window (privacy_settings.deadletter_days), not the raw-fix retention."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import asyncpg
from support import run

from fleetpilot.db.maintenance import apply_retention


def test_retention_purges_rejects_older_than_their_own_window(db_url):
    now = datetime(2026, 3, 10, 12, tzinfo=timezone.utc)

    async def go():
        conn = await asyncpg.connect(db_url)
        try:
            days, raw_days = await conn.fetchrow("SELECT deadletter_days, retention_days FROM privacy_settings")
            assert days < raw_days
            cutoff = now - timedelta(days=days)
            times = [
                cutoff - timedelta(days=3),
                cutoff - timedelta(seconds=1),
                cutoff,
                cutoff + timedelta(hours=1),
                now,
            ]
            await conn.executemany(
                "INSERT INTO rejects (received_at, topic, payload, reason, payload_bytes, payload_sha256) "
                "VALUES ($1, 'fleet/x/t-1/telemetry', '{}', 'bad_json', 2, sha256('{}'))",
                [(t,) for t in times],
            )
            result = await apply_retention(conn, now=now)
            kept = await conn.fetchval("SELECT array_agg(received_at ORDER BY received_at) FROM rejects")
            return result, times, kept
        finally:
            await conn.close()

    result, times, kept = run(go())
    assert result.rejects_purged == 2
    assert kept == times[2:]  # the cutoff itself is still inside the window
