"""Reading query results as numpy columns through COPY … TO STDOUT (FORMAT binary).

A fetch builds one Python object per value (~1 µs each: 7 M fixes × 7 columns is most of a
rollup's time); binary COPY sends PostgreSQL's own wire values, and when every column is
fixed-width and never NULL each row has the same size, so the whole buffer is one numpy
structured array read in place (big-endian, then converted). Queries read this way must
coalesce NULLs (e.g. to 'NaN'::real): a NULL changes a row's size and is refused here.

Format: https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import numpy as np

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
# Wire type → (big-endian numpy type, native type). timestamptz is int8 µs since 2000-01-01 UTC.
WIRE = {
    "int4": (">i4", np.int32),
    "int8": (">i8", np.int64),
    "float4": (">f4", np.float32),
    "float8": (">f8", np.float64),
    "timestamptz": (">i8", np.int64),
}
PG_EPOCH_MS = 946_684_800_000  # 2000-01-01T00:00:00Z in Unix milliseconds


class CopyFormatError(ValueError):
    """The binary COPY stream is not what the fixed-width reader expects (e.g. a NULL)."""


def row_dtype(columns: Sequence[tuple[str, str]]) -> np.dtype:
    """One row of the binary stream: field count, then (length, value) per column."""
    fields: list[tuple[str, str]] = [("_n", ">i2")]
    for name, wire in columns:
        fields += [(f"_len_{name}", ">i4"), (name, WIRE[wire][0])]
    return np.dtype(fields)


def parse_binary(data: bytes | memoryview, columns: Sequence[tuple[str, str]]) -> dict[str, np.ndarray]:
    """Columns (native byte order) of a whole binary COPY stream; timestamptz as Unix ms."""
    view = memoryview(data)
    if bytes(view[:11]) != SIGNATURE:
        raise CopyFormatError("not a binary COPY stream")
    extension = int.from_bytes(view[15:19], "big")
    body = view[19 + extension : len(view) - 2]  # the trailer is int16 -1
    dtype = row_dtype(columns)
    if len(body) % dtype.itemsize:
        raise CopyFormatError("rows of varying size: a NULL or a variable-width column in the query")
    rows = np.frombuffer(body, dtype=dtype)
    if len(rows) and (
        (rows["_n"] != len(columns)).any()
        or any((rows[f"_len_{name}"] != np.dtype(WIRE[wire][0]).itemsize).any() for name, wire in columns)
    ):
        raise CopyFormatError("rows of varying size: a NULL or a variable-width column in the query")
    out = {}
    for name, wire in columns:
        values = rows[name].astype(WIRE[wire][1])
        if wire == "timestamptz":  # µs since 2000 → ms since 1970, rounded like extract(epoch)*1000
            values = (values + 500) // 1000 + PG_EPOCH_MS
        out[name] = values
    return out


async def copy_bytes(conn: asyncpg.Connection, query: str, *args, format: str, **options) -> bytes:
    """The whole output of ``COPY (query) TO STDOUT`` in ``format``."""
    chunks: list[bytes] = []

    # A coroutine, not a file: asyncpg hands each chunk written to a file-like output to a
    # thread (run_in_executor), which cost more CPU than parsing the rows did (py-spy of a
    # fleet-day's rollup: 12 % of the process's GIL samples).
    async def collect(chunk: bytes) -> None:
        chunks.append(chunk)

    await conn.copy_from_query(query, *args, output=collect, format=format, **options)
    return b"".join(chunks)


async def copy_columns(
    conn: asyncpg.Connection, query: str, *args, columns: Sequence[tuple[str, str]]
) -> tuple[dict[str, np.ndarray], int]:
    """Run ``query`` through binary COPY; its columns (named and typed by ``columns``, in the
    query's order) and the number of bytes that came over the wire."""
    data = await copy_bytes(conn, query, *args, format="binary")
    return parse_binary(data, columns), len(data)
