"""Binary COPY rows encoded from numpy columns (fleetpilot.db.copyin) against a real PostgreSQL:
the same table rows as asyncpg's own encoders give from Python tuples."""

from __future__ import annotations

from datetime import date, datetime, timezone

import asyncpg
import numpy as np
import pytest
from support import run

from fleetpilot.db.copyin import CopyRows, dates, fixed, text, timestamps

TABLE = """(shift_id text NOT NULL, day date NOT NULL, n int4 NOT NULL, small int2 NOT NULL, big int8 NOT NULL,
    on_street boolean NOT NULL, segment_id text, speed real, x float8, t0 timestamptz NOT NULL)"""
COLUMNS = ["shift_id", "day", "n", "small", "big", "on_street", "segment_id", "speed", "x", "t0"]


def _data(n: int, seed: int = 3):
    rng = np.random.default_rng(seed)
    shift_labels = ["shift-001", "shift-ä-002", "s"]
    seg_labels = ["seg-1", None, "straße-42", ""]
    shift = rng.integers(0, len(shift_labels), n)
    seg = rng.integers(0, len(seg_labels), n)
    days = np.array([date(2026, 12, 1), date(1999, 12, 31), date(2000, 1, 1)], dtype="datetime64[D]")[
        rng.integers(0, 3, n)
    ]
    speed = rng.normal(5, 3, n)
    speed[rng.random(n) < 0.2] = np.nan
    # Seconds with fractions that round at the µs (…0000005 s), before 2000 and after.
    t0 = rng.integers(-(10**9), 2 * 10**9, n) + rng.integers(0, 10**6, n) / 1e6 + np.where(rng.random(n) < 0.3, 5e-7, 0)
    return {
        "shift": shift,
        "shift_labels": shift_labels,
        "seg": seg,
        "seg_labels": seg_labels,
        "day": days,
        "n": rng.integers(-(2**31), 2**31 - 1, n),
        "small": rng.integers(-(2**15), 2**15 - 1, n),
        "big": rng.integers(-(2**62), 2**62, n),
        "on_street": rng.random(n) < 0.5,
        "speed": speed,
        "x": rng.normal(0, 1e6, n),
        "t0": t0,
    }


def _rows(d) -> CopyRows:
    return CopyRows.of(
        shift_id=text(d["shift"], d["shift_labels"]),
        day=dates(d["day"]),
        n=fixed("int4", d["n"]),
        small=fixed("int2", d["small"]),
        big=fixed("int8", d["big"]),
        on_street=fixed("bool", d["on_street"]),
        segment_id=text(d["seg"], d["seg_labels"]),
        speed=fixed("float4", d["speed"], null=np.isnan(d["speed"])),
        x=fixed("float8", d["x"]),
        t0=timestamps(d["t0"]),
    )


def _tuples(d) -> list[tuple]:
    """The same rows as the Python values asyncpg encodes (what the rollup sent before)."""
    return [
        (
            d["shift_labels"][s],
            day.astype(date),
            n,
            small,
            big,
            bool(on),
            d["seg_labels"][g],
            None if np.isnan(v) else v,
            x,
            datetime.fromtimestamp(t, timezone.utc),
        )
        for s, day, n, small, big, on, g, v, x, t in zip(
            d["shift"].tolist(),
            d["day"],
            d["n"].tolist(),
            d["small"].tolist(),
            d["big"].tolist(),
            d["on_street"].tolist(),
            d["seg"].tolist(),
            d["speed"].tolist(),
            d["x"].tolist(),
            d["t0"].tolist(),
        )
    ]


def _both(db_url: str, rows: CopyRows, tuples: list[tuple]):
    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            await conn.execute(f"CREATE TEMP TABLE by_numpy {TABLE}; CREATE TEMP TABLE by_tuples {TABLE}")
            await rows.copy_to(conn, "by_numpy")
            await conn.copy_records_to_table("by_tuples", records=tuples, columns=COLUMNS)
            differ = await conn.fetchval(
                "SELECT count(*) FROM ((TABLE by_numpy EXCEPT ALL TABLE by_tuples)"
                " UNION ALL (TABLE by_tuples EXCEPT ALL TABLE by_numpy)) d"
            )
            return await conn.fetchval("SELECT count(*) FROM by_numpy"), differ, await conn.fetch("TABLE by_numpy")
        finally:
            await conn.close()

    return run(body())


def test_rows_equal_what_asyncpg_writes_from_tuples(db_url):
    d = _data(5000)
    count, differ, stored = _both(db_url, _rows(d), _tuples(d))
    assert count == 5000 and differ == 0
    assert sum(r["segment_id"] is None for r in stored) == sum(d["seg_labels"][g] is None for g in d["seg"])
    assert sum(r["speed"] is None for r in stored) == int(np.isnan(d["speed"]).sum()) > 0


def test_taken_and_concatenated_rows_keep_their_values(db_url):
    d = _data(600, seed=9)
    rows = _rows(d)
    parts = CopyRows.concat([rows.take(np.arange(0, 200)), rows.take(np.arange(200, 600))])
    only = parts.labels_in("shift_id", {"shift-001", "s"})
    keep = [i for i, s in enumerate(d["shift"].tolist()) if d["shift_labels"][s] in {"shift-001", "s"}]
    assert 0 < len(only) == len(keep) < 600
    tuples = [_tuples(d)[i] for i in keep]
    count, differ, _ = _both(db_url, only, tuples)
    assert count == len(keep) and differ == 0


def test_no_rows_is_an_empty_copy(db_url):
    d = _data(0)
    count, differ, _ = _both(db_url, _rows(d), [])
    assert count == 0 and differ == 0


def test_an_integer_out_of_range_is_refused():
    with pytest.raises(ValueError, match="int2"):
        fixed("int2", np.array([1, 40000]))
