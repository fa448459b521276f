"""OSM turn restrictions → forbidden turns between street segments (decision 0030).

An OSM ``type=restriction`` relation names ways (``from``, ``to``) and the node where they meet
(``via``); the import splits ways into segments at every shared node, so a restriction becomes
turns between the segments that meet at the via node: ``no_*`` forbids from → to, ``only_*``
forbids from → every other segment one can drive away on (turning round included). A truck is
what drives, so ``restriction:hgv`` wins over ``restriction``, and a relation whose ``except``
names ``hgv`` does not apply. Not read (counted in ``skipped``): via *ways* (none in the Helsinki
extract; a turn pair cannot express them), ``restriction:conditional`` (time windows), and
members outside the extract.

Relations are read with pyosmium (GDAL's OSM driver, which reads the lines, drops member roles).
GIS centre lines carry no restrictions: a city without OSM has none (docs/streets.md).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import osmium

from fleetpilot.streets.network import Segment, _keys


@dataclass(frozen=True)
class Restriction:
    """One OSM restriction relation, as read."""

    relation_id: int
    kind: str  # no_left_turn, only_straight_on, …
    from_ways: tuple[int, ...]
    via: tuple[float, float] | None  # the via node's lon, lat; None: a via way or a missing node
    to_ways: tuple[int, ...]


@dataclass(frozen=True)
class Turn:
    """A forbidden turn: from segment (arriving at via), via node, to segment (leaving it)."""

    from_segment_id: str
    via_lon: float
    via_lat: float
    to_segment_id: str
    restriction: str  # the relation's kind: what a map shows
    source: str  # osm-relation-<id>


@dataclass
class Mapped:
    turns: list[Turn]
    relations: int  # relations that gave at least one turn
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> relations


def _kind(tags: dict[str, str]) -> str | None:
    if "hgv" in tags.get("except", "").replace(" ", "").split(";"):
        return None
    if tags.get("type") == "restriction:hgv":
        return tags.get("restriction:hgv") or tags.get("restriction")
    if tags.get("type") != "restriction":
        return None
    return tags.get("restriction:hgv") or tags.get("restriction")


def read_restrictions(path: Path) -> tuple[list[Restriction], Counter]:
    """Every restriction relation of an OSM file (.osm.pbf or .osm); and why others were left."""
    found: list[tuple[int, str, list[int], list[int], list[int], int]] = []
    skipped: Counter = Counter()
    relations = osmium.FileProcessor(str(path), osmium.osm.RELATION).with_filter(osmium.filter.KeyFilter("type"))
    for rel in relations:
        tags = dict(rel.tags)
        if not isinstance(rel, osmium.osm.Relation) or not tags["type"].startswith("restriction"):
            continue
        kind = _kind(tags)
        if kind is None:
            skipped["conditional or not for trucks"] += 1
            continue
        if not kind.startswith(("no_", "only_")):
            skipped[f"unknown kind {kind}"] += 1
            continue
        members = [(m.type, m.ref, m.role) for m in rel.members]
        via_nodes = [ref for t, ref, role in members if role == "via" and t == "n"]
        via_ways = [ref for t, ref, role in members if role == "via" and t == "w"]
        frm = [ref for t, ref, role in members if role == "from" and t == "w"]
        to = [ref for t, ref, role in members if role == "to" and t == "w"]
        found.append((rel.id, kind, frm, to, via_nodes, len(via_ways)))
    wanted = {v for *_, vias, _ in found for v in vias}
    where: dict[int, tuple[float, float]] = {}
    if wanted:
        nodes = osmium.FileProcessor(str(path), osmium.osm.NODE).with_filter(osmium.filter.IdFilter(wanted))
        where = {
            n.id: (n.location.lon, n.location.lat)
            for n in nodes
            if isinstance(n, osmium.osm.Node) and n.location.valid()
        }
    out = []
    for rid, kind, frm, to, vias, n_via_ways in found:
        via = where.get(vias[0]) if len(vias) == 1 and not n_via_ways else None
        if n_via_ways:
            skipped["via a way"] += 1
        elif via is None:
            skipped["via node outside the extract"] += 1
        elif not frm or not to:
            skipped["from or to way missing"] += 1
        else:
            out.append(Restriction(rid, kind, tuple(frm), via, tuple(to)))
    return out, skipped


def _way(segment_id: str) -> int | None:
    """The OSM way of a segment id (``osm-<way>-<hash>[-n]``); None for other sources."""
    parts = segment_id.split("-")
    return int(parts[1]) if parts[0] == "osm" and len(parts) >= 3 and parts[1].isdigit() else None


def forbidden_turns(restrictions: list[Restriction], segments: list[Segment]) -> Mapped:
    """The restrictions as forbidden turns between ``segments`` (pure; ``split``'s output)."""
    if not segments:
        return Mapped([], 0, {"no segments": len(restrictions)} if restrictions else {})
    starts = _keys(np.array([s.coords[0] for s in segments]))
    ends = _keys(np.array([s.coords[-1] for s in segments]))
    arriving: dict[int, list[int]] = defaultdict(list)  # node key -> segments one can drive in on
    leaving: dict[int, list[int]] = defaultdict(list)
    for i, s in enumerate(segments):
        arriving[int(ends[i])].append(i)
        leaving[int(starts[i])].append(i)
        if not s.one_way:
            arriving[int(starts[i])].append(i)
            leaving[int(ends[i])].append(i)
    ways = [_way(s.segment_id) for s in segments]
    turns: dict[tuple[str, int, str], Turn] = {}
    skipped: Counter = Counter()
    used = 0
    for r in restrictions:
        assert r.via is not None
        key = int(_keys(np.array([r.via]))[0])
        frm = [i for i in arriving.get(key, []) if ways[i] in r.from_ways]
        to = [i for i in leaving.get(key, []) if ways[i] in r.to_ways]
        if not frm or not to:
            skipped["from or to not drivable at the via node"] += 1
            continue
        if r.kind.startswith("only_"):
            allowed = set(to)
            pairs = [(f, t) for f in frm for t in leaving[key] if t not in allowed]
        else:
            pairs = [(f, t) for f in frm for t in to]
            if set(r.from_ways) & set(r.to_ways):
                # The same way on both sides (a no_u_turn): turning round, not driving on through the node.
                pairs = [(f, t) for f, t in pairs if ways[f] != ways[t] or f == t]
        for f, t in pairs:
            ident = (segments[f].segment_id, key, segments[t].segment_id)
            turns.setdefault(
                ident,
                Turn(ident[0], float(r.via[0]), float(r.via[1]), ident[2], r.kind, f"osm-relation-{r.relation_id}"),
            )
        used += bool(pairs)
    return Mapped(list(turns.values()), used, dict(skipped))


def file_turns(path: Path, segments: list[Segment]) -> Mapped:
    """The forbidden turns a street file gives: an OSM extract's restrictions; none for GIS lines."""
    from fleetpilot.streets.read import OSM_SUFFIXES

    if not path.name.lower().endswith(OSM_SUFFIXES):
        return Mapped([], 0, {})
    found, skipped = read_restrictions(path)
    mapped = forbidden_turns(found, segments)
    mapped.skipped = dict(Counter(skipped) + Counter(mapped.skipped))
    return mapped
