"""The event vocabulary (fleetpilot.event_kinds) against what it names: the wire protocol's
JSON Schema, the database's constraints and columns, the simulator's copy and the API's types."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import get_args

from support import run, with_conn

from fleetpilot import event_kinds as kinds
from fleetpilot.api.exports.router import Kind as ExportKind
from fleetpilot.api.hotspots.schemas import CellKind, SegmentKind
from fleetsim.wire import EVENT_KINDS as SIM_EVENT_KINDS

SCHEMA = Path(__file__).resolve().parents[2] / "fleetpilot" / "protocol" / "v1.schema.json"
CHECK = """
SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
WHERE c.conrelid = $1::regclass AND c.contype = 'c' AND pg_get_constraintdef(c.oid) LIKE '%kind%'
"""
COLUMNS = "SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position"


def test_device_kinds_are_the_wire_protocols():
    schema = json.loads(SCHEMA.read_text())
    assert tuple(schema["definitions"]["event_kind"]["enum"]) == kinds.DEVICE


def test_the_simulator_sends_the_same_kinds():
    assert tuple(SIM_EVENT_KINDS) == kinds.DEVICE


def test_every_name_is_used_once_and_groups_are_subsets():
    names = {v for k, v in vars(kinds).items() if k.isupper() and isinstance(v, str)}
    assert len(names) == 9
    for group in (kinds.HARSH, kinds.DEVICE, kinds.SAFETY, kinds.CELL_EXPOSURE, kinds.SEGMENT_EXPOSURE, kinds.LEG):
        assert set(group) <= names and len(set(group)) == len(group)
    assert set(kinds.SEGMENT_EXPOSURE) <= set(kinds.CELL_EXPOSURE)


def test_the_apis_kind_parameters_are_the_exposure_kinds():
    assert get_args(CellKind) == kinds.CELL_EXPOSURE
    assert get_args(ExportKind) == kinds.CELL_EXPOSURE
    assert get_args(SegmentKind) == kinds.SEGMENT_EXPOSURE


def _quoted(definition: str) -> tuple[str, ...]:
    return tuple(re.findall(r"'(\w+)'", definition))


def test_database_constraints_and_columns_hold_the_same_kinds(db_url):
    async def read(conn):
        return {
            "events": [
                _quoted(d) for d in await conn.fetchval("SELECT array_agg(x) FROM (" + CHECK + ") t(x)", "events")
            ],
            "known_hotspots": _quoted(await conn.fetchval(CHECK, "known_hotspots")),
            **{
                table: [r[0] for r in await conn.fetch(COLUMNS, table)]
                for table in ("cell_exposure", "segment_exposure", "whatif_legs")
            },
        }

    found = run(with_conn(db_url, read))
    assert found["events"] == [kinds.DEVICE]
    assert found["known_hotspots"] == kinds.SEGMENT_EXPOSURE
    cells, segments, legs = found["cell_exposure"], found["segment_exposure"], found["whatif_legs"]
    assert tuple(c for c in cells if c in kinds.DEVICE + kinds.SAFETY) == kinds.CELL_EXPOSURE
    assert tuple(c for c in segments if c in kinds.DEVICE + kinds.SAFETY) == kinds.SEGMENT_EXPOSURE
    assert tuple(c for c in legs if c in kinds.DEVICE + kinds.SAFETY) == kinds.LEG
