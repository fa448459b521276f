"""Reading many rows as numpy columns, aggregated per group into arrays sent as bytea.

Binary COPY sends one protocol message per row, and asyncpg handles every message in Python's
event loop: reading a fleet-day's 7.1 M fixes that way cost the rollup 3.1–3.2 s of CPU against
4.0–4.1 s for the server to send them (`fleetpilot.db.copyout`). Aggregated per group (e.g. one
row per shift, each column an ``array_agg``) and sent with ``array_send``, the same values come
as a few large bytea values that numpy reads in place: 0.3–0.4 s of client CPU, the server's
about the same (3.9–4.3 s). A query read this way returns per group a key, the group's row
count and, per column, ``array_send(array_agg(…))`` of a fixed-width type with no NULL element
(coalesce them, e.g. to 'NaN'::real): an array with a NULL is refused here.

Format: array_send in PostgreSQL's src/backend/utils/adt/arrayfuncs.c (ndim, has-null flag,
element type, per dimension its length and lower bound, then per element its length and value).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import asyncpg
import numpy as np

from fleetpilot.db.copyout import PG_EPOCH_MS, WIRE

ELEMENT_OID = {"int4": 23, "int8": 20, "float4": 700, "float8": 701, "timestamptz": 1184}


class ArrayFormatError(ValueError):
    """A value is not the one-dimensional, NULL-free array of the expected type and length."""


def parse_array(data: bytes | None, wire: str, n: int) -> np.ndarray:
    """The ``n`` elements of an array_send value of ``wire`` elements (native byte order;
    timestamptz as Unix ms, as fleetpilot.db.copyout reads it). A group without rows gives NULL."""
    big, native = WIRE[wire]
    if data is None:
        if n:
            raise ArrayFormatError(f"no array for a group of {n} rows")
        return np.zeros(0, dtype=native)
    ndim, has_null, oid = struct.unpack_from(">iiI", data, 0)
    if has_null:
        raise ArrayFormatError("a NULL element: coalesce it in the query")
    if oid != ELEMENT_OID[wire]:
        raise ArrayFormatError(f"elements of type oid {oid}, expected {wire}")
    if ndim == 0:
        count, offset = 0, 12
    elif ndim == 1:
        count, offset = struct.unpack_from(">i", data, 12)[0], 20
    else:
        raise ArrayFormatError(f"an array of {ndim} dimensions")
    size = np.dtype(big).itemsize
    if count != n or len(data) != offset + count * (4 + size):
        raise ArrayFormatError(f"{count} elements in {len(data)} bytes for a group of {n} rows")
    elements = np.frombuffer(data, dtype=[("len", ">i4"), ("v", big)], offset=offset, count=count)
    if (elements["len"] != size).any():
        raise ArrayFormatError("elements of varying size")
    values = elements["v"].astype(native)
    if wire == "timestamptz":  # µs since 2000 → ms since 1970, rounded like extract(epoch)*1000
        values = (values + 500) // 1000 + PG_EPOCH_MS
    return values


async def fetch_grouped(
    conn: asyncpg.Connection, query: str, *args, key: str, count: str, columns: Sequence[tuple[str, str]]
) -> dict[str, np.ndarray]:
    """Run ``query`` (one row per group: ``key``, ``count`` and the ``columns`` as array_send
    values) and return every group's rows as columns, groups in the query's order, with ``key``
    repeated for each of its group's rows."""
    groups = await conn.fetch(query, *args)
    counts = np.array([g[count] for g in groups], dtype=np.int64)
    out = {key: np.repeat(np.array([g[key] for g in groups], dtype=np.int32), counts)}
    for name, wire in columns:
        parts = [parse_array(g[name], wire, int(n)) for g, n in zip(groups, counts)]
        out[name] = np.concatenate(parts) if parts else np.zeros(0, dtype=WIRE[wire][1])
    return out
