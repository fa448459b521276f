"""Reading many rows as numpy columns, aggregated per group into one bytea value per column.

Binary COPY sends one protocol message per row, and asyncpg handles every message in Python's
event loop: reading a fleet-day's 7.1 M fixes that way cost the rollup 3.1–3.2 s of CPU against
4.0–4.1 s for the server to send them (`fleetpilot.db.copyout`). Aggregated per group (e.g. one
row per shift) the same values come as a few large bytea values that numpy reads in place. A
query read this way returns per group a key, the group's row count and, per column, the
values' binary send forms concatenated: ``string_agg(float8send(x), '')`` (``int4send``,
``int8send``, ``float4send``, ``timestamptz_send``) of a fixed-width type. string_agg skips
NULLs, so coalesce them (e.g. to 'NaN'::real): a group whose bytes are not its count of values is
refused here, never misread. A short text column (e.g. an event's kind) comes as
``string_agg(kind, E'\\x1f')``: its values joined by the unit separator, which none may contain.

``string_agg`` of the send forms costs the server ~15–30 % less than ``array_send(array_agg(…))``
(per element a Datum, a null flag and a length word) and sends 8 bytes per float8, not 12
(docs/benchmarks/rollup.md, 7 Dec).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import numpy as np

from fleetpilot.db.copyout import PG_EPOCH_MS, WIRE


class ArrayFormatError(ValueError):
    """A group's bytes are not its count of values of the expected type."""


def parse_values(data: bytes | None, wire: str, n: int) -> np.ndarray:
    """The ``n`` values of concatenated binary send forms of ``wire`` (native byte order;
    timestamptz as Unix ms, as fleetpilot.db.copyout reads it). A group without rows gives NULL."""
    big, native = WIRE[wire]
    if data is None:
        if n:
            raise ArrayFormatError(f"no values for a group of {n} rows (every value NULL? coalesce them)")
        return np.zeros(0, dtype=native)
    size = np.dtype(big).itemsize
    if len(data) != n * size:
        raise ArrayFormatError(
            f"{len(data)} bytes for a group of {n} {wire} values of {size} bytes (a NULL value? coalesce it)"
        )
    values = np.frombuffer(data, dtype=big).astype(native)
    if wire == "timestamptz":  # µs since 2000 → ms since 1970, rounded like extract(epoch)*1000
        values = (values + 500) // 1000 + PG_EPOCH_MS
    return values


SEPARATOR = "\x1f"  # between a text column's values


def parse_texts(data: bytes | str | None, n: int) -> list[str]:
    """The ``n`` values of a text column joined by SEPARATOR."""
    if data is None:
        if n:
            raise ArrayFormatError(f"no values for a group of {n} rows (every value NULL? coalesce them)")
        return []
    values = (data.decode() if isinstance(data, bytes) else data).split(SEPARATOR)
    if len(values) != n:
        raise ArrayFormatError(f"{len(values)} text values for a group of {n} rows (a NULL value? coalesce it)")
    return values


async def fetch_grouped(
    conn: asyncpg.Connection, query: str, *args, key: str, count: str, columns: Sequence[tuple[str, str]]
) -> dict[str, np.ndarray]:
    """Run ``query`` (one row per group: ``key``, ``count`` and the ``columns`` as concatenated
    send forms, or joined text for a ``text`` column) and return every group's rows as columns, groups in the query's order, with
    ``key`` repeated for each of its group's rows."""
    groups = await conn.fetch(query, *args)
    counts = np.array([g[count] for g in groups], dtype=np.int64)
    out = {key: np.repeat(np.array([g[key] for g in groups], dtype=np.int32), counts)}
    for name, wire in columns:
        if wire == "text":
            out[name] = np.array([v for g, n in zip(groups, counts) for v in parse_texts(g[name], int(n))], dtype=str)
            continue
        parts = [parse_values(g[name], wire, int(n)) for g, n in zip(groups, counts)]
        out[name] = np.concatenate(parts) if parts else np.zeros(0, dtype=WIRE[wire][1])
    return out
