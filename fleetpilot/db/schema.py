"""Bringing a database up to date: migrations plus the first privacy settings."""

from __future__ import annotations

import asyncpg

from fleetpilot.db.migrate import Migration, migrate
from fleetpilot.settings import Settings

SEED_PRIVACY_SQL = """
INSERT INTO privacy_settings (retention_days, k_min_shifts, k_min_people, deadletter_days, skew_hold_hours, updated_by)
VALUES ($1, $2, $3, $4, $5, 'environment')
ON CONFLICT (singleton) DO NOTHING
"""


async def prepare(conn: asyncpg.Connection, settings: Settings) -> list[Migration]:
    """Apply pending migrations and seed privacy settings from the environment once."""
    applied = await migrate(conn, settings.storage_mode)
    await conn.execute(
        SEED_PRIVACY_SQL,
        settings.retention_days,
        settings.k_min_shifts,
        settings.k_min_people,
        settings.deadletter_days,
        settings.skew_hold_hours,
    )
    return applied
