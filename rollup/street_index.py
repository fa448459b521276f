"""The city's street index, stored by what it is built from (migration 0037, decision 0039).

A rollup process loads the index when the streets, frame and matching radius are the ones it
was built from, and otherwise builds it and stores it for the next process (another run,
another worker, another machine). Only the newest index is kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import asyncpg
from numpy.typing import ArrayLike

from fleetpilot.analytics.geo import LocalFrame
from fleetpilot.analytics.matching import CELL_M, RADIUS_M, LineIndex, Packed

_COLUMNS = "radius_m, cell_m, x0, y0, nx, ny, near, label, along, length_m"


def key(frame: LocalFrame, streets: Iterable[tuple[str, str]]) -> bytes:
    """What an index is built from, hashed (its key): the frame, the matching radius and cell,
    and every street's (segment_id, geometry as stored GeoJSON text), in segment_id order."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((frame.lon0, frame.lat0, RADIUS_M, CELL_M)).encode())
    for segment_id, geometry in streets:
        h.update(f"\x1e{segment_id}\x1f{geometry}".encode())
    return h.digest()


async def load(conn: asyncpg.Connection, key: bytes, ids: ArrayLike, frame: LocalFrame) -> LineIndex | None:
    """The stored index built from ``key``, or None."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM street_index WHERE built_from = $1", key)
    return None if row is None else LineIndex.unpacked(ids, frame, Packed(*row))


async def store(conn: asyncpg.Connection, key: bytes, index: LineIndex) -> None:
    """Keep ``index`` as the city's (it replaces any other: streets change, old keys never return)."""
    p = index.packed()
    async with conn.transaction():
        await conn.execute("DELETE FROM street_index WHERE built_from <> $1", key)
        await conn.execute(
            f"INSERT INTO street_index (built_from, {_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            " ON CONFLICT (built_from) DO NOTHING",
            key,
            p.radius_m,
            p.cell_m,
            p.x0,
            p.y0,
            p.nx,
            p.ny,
            p.near,
            p.label,
            p.along,
            p.length_m,
        )
