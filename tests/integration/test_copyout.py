"""Binary COPY into numpy columns (fleetpilot.db.copyout) against a real PostgreSQL."""

from __future__ import annotations

import asyncpg
import numpy as np
import pytest
from support import run

from fleetpilot.db.copyout import CopyFormatError, copy_columns

WIRE = (("n", "int4"), ("big", "int8"), ("t", "timestamptz"), ("x", "float8"), ("y", "float4"))
QUERY = """
SELECT i::int4, (i * 10000000000)::int8, timestamptz '2026-11-20 06:00:00.1234+00' + i * interval '1.0005 s',
       i / 3.0::float8, CASE WHEN $1 AND i = 2 THEN NULL ELSE (i / 7.0)::float4 END
FROM generate_series(1, $2) AS i
"""


def _copy(db_url: str, with_null: bool, rows: int):
    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            cols, size = await copy_columns(conn, QUERY, with_null, rows, columns=WIRE)
            fetched = await conn.fetch(
                f"SELECT i, big, (extract(epoch FROM t) * 1000)::bigint AS ms, x, y FROM ({QUERY}) AS q(i, big, t, x, y)",
                with_null,
                rows,
            )
            return cols, size, fetched
        finally:
            await conn.close()

    return run(body())


def test_columns_equal_what_a_fetch_reads(db_url):
    cols, size, fetched = _copy(db_url, False, 1000)
    assert size > 1000 * 40
    assert cols["n"].dtype == np.int32 and cols["t"].dtype == np.int64 and cols["y"].dtype == np.float32
    assert cols["n"].tolist() == [r["i"] for r in fetched]
    assert cols["big"].tolist() == [r["big"] for r in fetched]
    # timestamptz as Unix ms, rounded as the rollup's SQL did with extract(epoch) * 1000
    assert cols["t"].tolist() == [r["ms"] for r in fetched]
    assert cols["x"].tolist() == [r["x"] for r in fetched]
    assert np.array_equal(cols["y"], np.array([r["y"] for r in fetched], dtype=np.float32))


def test_no_rows_are_empty_columns(db_url):
    cols, _, _ = _copy(db_url, False, 0)
    assert all(len(v) == 0 for v in cols.values())


def test_a_null_is_refused_not_misread(db_url):
    with pytest.raises(CopyFormatError):
        _copy(db_url, True, 5)
