"""Replacing a batch's per-shift rows writes only what differs (rollup/replace.py), on real
PostgreSQL: unchanged rows (NULLs included) stay where they are, changed and vanished rows are
deleted, changed and new ones inserted, other shifts are left alone, and the statement
triggers see only those rows (as the exposure tables' stale-day triggers do)."""

from __future__ import annotations

import asyncpg
from support import run

from fleetpilot.rollup.replace import replace_shift_rows

SCHEMA = """
CREATE TABLE per_shift (shift_id text NOT NULL, k int NOT NULL, v real, note text, extra int NOT NULL DEFAULT 7,
                        PRIMARY KEY (shift_id, k));
CREATE TABLE seen (op text, shift_id text, k int);
CREATE FUNCTION seen_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO seen SELECT 'insert', shift_id, k FROM changed; RETURN NULL; END $$;
CREATE FUNCTION seen_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO seen SELECT 'delete', shift_id, k FROM changed; RETURN NULL; END $$;
CREATE TRIGGER per_shift_ins AFTER INSERT ON per_shift REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION seen_ins();
CREATE TRIGGER per_shift_del AFTER DELETE ON per_shift REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION seen_del();
"""
COLUMNS = ("shift_id", "k", "v", "note")


def test_only_differing_rows_are_written(fresh_db):
    async def body():
        conn = await asyncpg.connect(fresh_db)
        try:
            await conn.execute(SCHEMA)
            first = [
                ("a", 0, 1.5, None),
                ("a", 1, 2.0, "x"),
                ("a", 2, None, None),
                ("a", 3, 4.0, "y"),
                ("b", 0, 9.0, "z"),
            ]
            async with conn.transaction():
                await replace_shift_rows(conn, "per_shift", ("shift_id", "k"), COLUMNS, ["a", "b"], first)
            placed = dict(await conn.fetch("SELECT k, ctid::text FROM per_shift WHERE shift_id = 'a'"))
            # No rows of these shifts yet: COPY straight into the table, and its insert trigger fires.
            first_seen = sorted(tuple(r) for r in await conn.fetch("SELECT * FROM seen"))
            await conn.execute("TRUNCATE seen")
            # a: 0 and 2 (with its NULLs) unchanged, 1 changed, 3 gone, 4 new; b not in the batch.
            again = [("a", 0, 1.5, None), ("a", 1, 2.5, "x"), ("a", 2, None, None), ("a", 4, 5.0, None)]
            async with conn.transaction():
                await replace_shift_rows(conn, "per_shift", ("shift_id", "k"), COLUMNS, ["a"], again)
            rows = [tuple(r) for r in await conn.fetch("SELECT * FROM per_shift ORDER BY shift_id, k")]
            moved = dict(await conn.fetch("SELECT k, ctid::text FROM per_shift WHERE shift_id = 'a'"))
            seen = sorted(tuple(r) for r in await conn.fetch("SELECT * FROM seen"))
            return placed, rows, moved, seen, first_seen
        finally:
            await conn.close()

    placed, rows, moved, seen, first_seen = run(body())
    assert first_seen == [
        ("insert", "a", 0),
        ("insert", "a", 1),
        ("insert", "a", 2),
        ("insert", "a", 3),
        ("insert", "b", 0),
    ]
    assert rows == [
        ("a", 0, 1.5, None, 7),
        ("a", 1, 2.5, "x", 7),
        ("a", 2, None, None, 7),
        ("a", 4, 5.0, None, 7),
        ("b", 0, 9.0, "z", 7),
    ]
    assert moved[0] == placed[0] and moved[2] == placed[2]  # not rewritten
    assert moved[1] != placed[1]
    assert seen == [("delete", "a", 1), ("delete", "a", 3), ("insert", "a", 1), ("insert", "a", 4)]
