"""Rows read as per-group values (fleetpilot.db.arrays) against a real PostgreSQL: the same
columns as a binary COPY of the rows (fleetpilot.db.copyout), a group without rows included."""

from __future__ import annotations

import asyncpg
import numpy as np
import pytest
from support import run

from fleetpilot.db.arrays import ArrayFormatError, fetch_grouped
from fleetpilot.db.copyout import copy_columns

COLUMNS = (("big", "int8"), ("t", "timestamptz"), ("x", "float8"), ("y", "float4"), ("k", "int4"))
# Groups 1..$1 of g * 37 % 101 rows each (group 101 would have none; group 0 has none).
ROWS = """
SELECT g::int4 AS grp, i, (i * 10000000000 - g)::int8 AS big,
       timestamptz '1999-12-31 23:59:00.0005+00' + (g * 1000 + i) * interval '1.0005 s' AS t,
       (g - i) / 3.0::float8 AS x, CASE WHEN $2 AND i = 2 THEN NULL ELSE (i / 7.0)::float4 END AS y,
       (g * i)::int4 AS k
FROM generate_series(0, $1) AS g, generate_series(1, g * 37 % 101) AS i
"""
AS_ROWS = f"SELECT grp, big, t, x, y, k FROM ({ROWS}) r ORDER BY grp, i"
AS_ARRAYS = f"""
SELECT g::int4 AS grp, count(r.i) AS n, string_agg(int8send(r.big), '' ORDER BY r.i) AS big,
       string_agg(timestamptz_send(r.t), '' ORDER BY r.i) AS t,
       string_agg(float8send(r.x), '' ORDER BY r.i) AS x,
       string_agg(float4send(r.y), '' ORDER BY r.i) AS y,
       string_agg(int4send(r.k), '' ORDER BY r.i) AS k
FROM generate_series(0, $1) AS g LEFT JOIN ({ROWS}) r ON r.grp = g
GROUP BY g ORDER BY g
"""


def _both(db_url: str, groups: int, with_null: bool = False):
    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            grouped = await fetch_grouped(conn, AS_ARRAYS, groups, with_null, key="grp", count="n", columns=COLUMNS)
            copied, _ = await copy_columns(conn, AS_ROWS, groups, with_null, columns=(("grp", "int4"), *COLUMNS))
            return grouped, copied
        finally:
            await conn.close()

    return run(body())


def test_groups_read_as_arrays_equal_the_rows_read_by_copy(db_url):
    grouped, copied = _both(db_url, 120)
    assert len(copied["grp"]) > 5000 and 0 not in set(copied["grp"].tolist())  # group 0 is empty
    assert set(grouped) == set(copied)
    for name, values in copied.items():
        assert grouped[name].dtype == values.dtype, name
        assert np.array_equal(grouped[name], values), name


def test_a_null_element_is_refused_not_misread(db_url):
    with pytest.raises(ArrayFormatError, match="a NULL value"):
        _both(db_url, 5, with_null=True)


def test_no_groups_are_empty_columns(db_url):
    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            return await fetch_grouped(conn, AS_ARRAYS + " LIMIT 0", 3, False, key="grp", count="n", columns=COLUMNS)
        finally:
            await conn.close()

    cols = run(body())
    assert all(len(v) == 0 for v in cols.values()) and cols["t"].dtype == np.int64


TEXTS = """
SELECT g::int4 AS grp, count(r.i) AS n, string_agg(r.w, E'\\x1f' ORDER BY r.i) AS w
FROM generate_series(0, 20) AS g
LEFT JOIN (SELECT g AS grp, i, CASE WHEN $1 AND i = 3 THEN NULL ELSE 'kind-' || (g * i % 5) END AS w
           FROM generate_series(0, 20) AS g, generate_series(1, g % 7) AS i) r ON r.grp = g
GROUP BY g ORDER BY g
"""


def test_text_values_joined_per_group_equal_the_rows(db_url):
    async def body(with_null: bool):
        conn = await asyncpg.connect(db_url)
        try:
            return await fetch_grouped(conn, TEXTS, with_null, key="grp", count="n", columns=(("w", "text"),))
        finally:
            await conn.close()

    cols = run(body(False))
    expected = [f"kind-{g * i % 5}" for g in range(21) for i in range(1, g % 7 + 1)]
    assert cols["w"].tolist() == expected and len(expected) > 50
    assert cols["grp"].tolist() == [g for g in range(21) for _ in range(g % 7)]
    with pytest.raises(ArrayFormatError, match="a NULL value"):
        run(body(True))
