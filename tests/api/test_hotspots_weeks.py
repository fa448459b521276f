"""Hotspots are released per (unit, ISO week) cell (docs/decisions/0004): for many overlapping
ranges an answer is the combination of its weeks' answers — sums, reference rate, Gi* and
Poisson scores — and changing a hidden unit-week changes no answer, whether the range is read
from the weekly blocks, from exposure rows of stale days, or from both."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import numpy as np
import pytest
from support import run, with_conn

from fleetpilot.analytics.exceedance import poisson_exceedance
from fleetpilot.analytics.geo import LocalFrame
from fleetpilot.analytics.hotspots import Grid, HotspotParams
from fleetpilot.analytics.hotspots import hotspots as gi_star_hotspots
from fleetpilot.rollup.blocks import refresh_blocks

K = (2, 2)  # week 1: visible or not by cell; week 2 (one person): always hidden; week 3: 3 people
# Day offsets from week 1's Monday: overlapping, cut and nested ranges.
RANGES = [(0, 21), (0, 14), (2, 19), (3, 10), (6, 8), (7, 14), (8, 20), (-3, 25), (13, 15), (14, 28)]
WEEKS = range(-1, 4)
LEVELS = {"cells": ("cell_exposure", "cell_id"), "segments": ("segment_exposure", "segment_id")}
SEGMENTS = [f"seg-{c}" for c in "abcdefgh"]


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


@pytest.fixture(scope="module")
def seeded(shared_api):
    """Cells and segments each passed by a random subset of the shifts; returns the hidden
    (level, unit, week) cells, judged here from the crews."""
    api = shared_api
    api.sql("UPDATE privacy_settings SET k_min_shifts = $1, k_min_people = $2", *K)
    shifts = sorted(s for s in api.world.shift_window if s != api.world.live_shift)
    grid = Grid(LocalFrame(13.4, 52.5))
    xs, ys = np.meshgrid(np.arange(-3, 4) * 50.0 + 25, np.arange(-3, 4) * 50.0 + 25)
    units = {"cells": grid.cell_of(xs.ravel(), ys.ravel()).tolist(), "segments": SEGMENTS}
    rng = np.random.default_rng(11)
    rows: dict[str, list[tuple]] = {"cells": [], "segments": []}
    for level, ids in units.items():
        for i, unit in enumerate(ids):
            rate = 0.4 if i % 9 == 4 else 0.05
            for shift in shifts:
                if rng.random() < 0.55:
                    passes = int(rng.integers(5, 40))
                    rows[level].append(
                        (unit, api.world.shift_window[shift][0].date(), shift, passes, int(rng.poisson(rate * passes)))
                    )
    for level, (table, unit) in LEVELS.items():
        api.sql(f"DELETE FROM {table}")
        api.sql_many(
            f"INSERT INTO {table} ({unit}, day, shift_id, passes, harsh_brake) VALUES ($1, $2, $3, $4, $5)", rows[level]
        )
    crews: dict[str, set[str]] = {}
    for r in api.sql("SELECT shift_id, person_id FROM shift_crew"):
        crews.setdefault(r["shift_id"], set()).add(r["person_id"])
    members: dict[tuple, set[str]] = {}
    for level, level_rows in rows.items():
        for unit, day, shift, _, _ in level_rows:
            members.setdefault((level, unit, _monday(day)), set()).add(shift)
    hidden = {key for key, ss in members.items() if len(ss) < K[0] or len(set().union(*(crews[s] for s in ss))) < K[1]}
    week1 = api.world.week1
    assert {w for _, _, w in hidden} == {week1, week1 + timedelta(weeks=1), week1 + timedelta(weeks=2)}
    assert len(hidden) < len(members)
    return hidden


def _get(api, level: str, first: date, last: date) -> dict:
    response = api.get(
        f"/api/v1/hotspots/{level}", "data_officer", params={"from": str(first), "to": str(last), "min_passes": 1}
    )
    assert response.status_code == 200, response.text
    return response.json()


def _answers(api) -> dict:
    week1 = api.world.week1
    return {
        (level, a, b): _get(api, level, week1 + timedelta(days=a), week1 + timedelta(days=b))
        for level in LEVELS
        for a, b in [*RANGES, *((7 * w, 7 * w + 7) for w in WEEKS)]
    }


def _check_combination(api, answers: dict) -> None:
    """Each range's answer from its weeks' answers alone."""
    week1 = api.world.week1
    for level in LEVELS:
        for a, b in RANGES:
            body = answers[(level, a, b)]
            start, end = date.fromisoformat(body["start"]), date.fromisoformat(body["end"])
            assert start.weekday() == end.weekday() == 0 and start <= week1 + timedelta(days=a)
            weeks = [answers[(level, 7 * w, 7 * w + 7)] for w in WEEKS if start <= week1 + timedelta(weeks=w) < end]
            passes, events = Counter(), Counter()
            for week in weeks:
                for u in week["units"]:
                    passes[u["unit_id"]] += u["passes"]
                    events[u["unit_id"]] += u["events"]
            units = {u["unit_id"]: u for u in body["units"]}
            assert {i: (u["passes"], u["events"]) for i, u in units.items()} == {
                i: (passes[i], events[i]) for i in passes
            }, (level, a, b)
            assert body["suppressed_cells"] == sum(w["suppressed_cells"] for w in weeks)
            ids = sorted(passes)
            p = np.array([passes[i] for i in ids], dtype=float)
            e = np.array([events[i] for i in ids], dtype=float)
            if not ids:
                assert body["reference_rate_per_1000"] is None
                continue
            assert body["reference_rate_per_1000"] == pytest.approx(1000 * e.sum() / p.sum())
            if level == "cells":
                found = gi_star_hotspots(np.array([int(i) for i in ids]), p, e, HotspotParams(min_passes=1))
                order = {c: j for j, c in enumerate(found.cell.tolist())}
                z, q = ([scores[order[int(i)]] for i in ids] for scores in (found.z, found.q))
            else:
                scores = poisson_exceedance(e, p)
                z, q = scores.z.tolist(), scores.q.tolist()
            assert [units[i]["z"] for i in ids] == pytest.approx(z), (level, a, b)
            assert [units[i]["q"] for i in ids] == pytest.approx(q), (level, a, b)


def _change_hidden(api, hidden: set, days: set[date] | None = None) -> int:
    """Passes and events of hidden unit-weeks changed (on `days` only, when given); rows changed."""
    changed = 0
    for level, (table, unit) in LEVELS.items():
        keys = [(u, w) for lv, u, w in hidden if lv == level]
        for u, week in keys:
            result = api.sql(
                f"UPDATE {table} SET passes = passes * 3, harsh_brake = harsh_brake + 4 "
                f"WHERE {unit} = $1 AND day >= $2 AND day < $3 AND ($4::date[] IS NULL OR day = ANY($4)) "
                "RETURNING 1",
                u,
                week,
                week + timedelta(days=7),
                sorted(days) if days else None,
            )
            changed += len(result)
    return changed


def test_an_answer_is_its_visible_weeks_and_no_hidden_week_changes_it(shared_api, seeded):
    api = shared_api
    run(with_conn(api.database_url, refresh_blocks))  # whole weeks from the weekly blocks
    assert not api.sql("SELECT 1 FROM exposure_stale_days")
    before = _answers(api)
    _check_combination(api, before)
    assert any(b["suppressed_cells"] for b in before.values()) and any(b["units"] for b in before.values())

    # One day of weeks 1 and 3 stale: those weeks are grouped from day blocks and exposure rows.
    week1 = api.world.week1
    one_day = set()
    for week in (week1, week1 + timedelta(weeks=2)):
        day = next(d for d in (week + timedelta(days=i) for i in range(7)) if _change_hidden(api, seeded, {d}))
        one_day.add(day)
    assert {r["day"] for r in api.sql("SELECT day FROM exposure_stale_days")} == one_day
    assert _answers(api) == before

    # Every hidden unit-week changed: its days are read from the exposure rows.
    assert _change_hidden(api, seeded) > 0
    stale = _answers(api)
    assert stale == before
    _check_combination(api, stale)
    run(with_conn(api.database_url, refresh_blocks))
    assert _answers(api) == before
