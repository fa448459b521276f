"""Replacing a batch's rows of a per-shift table, writing only the rows that differ.

Deleting a shift's rows and COPYing them again in one transaction made every new row's
unique-index check visit the dead old row of the same key: COPY of the same 136,538
cell_exposure rows cost 5.7 s of server CPU after such a DELETE against 2.2 s into an empty
table (docs/benchmarks/rollup.md). A recompute mostly finds the same rows, so the new rows go
into a temporary table (no indexes, no constraints: cheap), and only rows that changed or
vanished are deleted and only new or changed ones inserted. The statement triggers that mark
exposure days stale (migration 0007) then see only real changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from fleetpilot.db.copyin import CopyRows


async def replace_shift_rows(
    conn: asyncpg.Connection,
    table: str,
    key: Sequence[str],
    columns: Sequence[str],
    shift_ids: list[str],
    records: Sequence[tuple] | CopyRows,
) -> None:
    """Make ``table``'s rows of ``shift_ids`` equal ``records`` (call inside a transaction).

    ``key`` is the table's primary key (it includes shift_id); ``columns`` name the fields of
    ``records``, and columns left out keep their defaults, as a plain COPY would."""
    if not await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE shift_id = ANY($1::text[]))", shift_ids):
        # A first rollup of these shifts: nothing to compare with, so no stage and no EXCEPT.
        await _copy(conn, table, columns, records)
        return
    stage = f"replace_{table}"
    cols = ", ".join(columns)
    await conn.execute(f"CREATE TEMP TABLE {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP")
    await _copy(conn, stage, columns, records)
    # Whole rows compared with EXCEPT: NULLs count as equal there, as they should here.
    same_key = " AND ".join(f"t.{k} = d.{k}" for k in key)
    await conn.execute(
        f"""DELETE FROM {table} t
        USING (SELECT * FROM {table} WHERE shift_id = ANY($1::text[]) EXCEPT SELECT * FROM {stage}) d
        WHERE {same_key} AND t.shift_id = ANY($1::text[])""",
        shift_ids,
    )
    await conn.execute(
        f"""INSERT INTO {table} ({cols})
        SELECT {cols} FROM (SELECT * FROM {stage} EXCEPT SELECT * FROM {table} WHERE shift_id = ANY($1::text[])) n""",
        shift_ids,
    )


async def _copy(
    conn: asyncpg.Connection, table: str, columns: Sequence[str], records: Sequence[tuple] | CopyRows
) -> None:
    if not isinstance(records, CopyRows):
        await conn.copy_records_to_table(table, records=records, columns=list(columns))
    elif len(records):
        if records.names != tuple(columns):
            raise ValueError(f"{table}: rows of {records.names}, expected {tuple(columns)}")
        await records.copy_to(conn, table)
