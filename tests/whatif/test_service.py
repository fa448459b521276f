"""The database path end to end: simulator plans and telemetry in PostgreSQL → legs prepared
→ answers loaded, computed, stored and served (CLI functions and the HTTP API), the same as
the in-memory path, and the same answer when asked twice."""

from __future__ import annotations

import json
import warnings
from dataclasses import fields
from datetime import date

import numpy as np
import pytest
from support import run
from whatif.whatif_pilot import PERIOD, K
from whatif.whatif_pilot import with_conn as _with

from fleetpilot.analytics.whatif.assemble import history_from_documents
from fleetpilot.analytics.whatif.questions import Context, ask
from fleetpilot.analytics.whatif.scenarios import run_scenario
from fleetpilot.api.app import create_app
from fleetpilot.api.auth.tokens import issue_access_token
from fleetpilot.api.whatif import service
from fleetpilot.rollup.whatif.load import forget_cached, load_history
from fleetpilot.rollup.whatif.prepare import prepare

pytestmark = pytest.mark.integration

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
from fastapi.testclient import TestClient  # noqa: E402


@pytest.fixture(scope="module")
def in_memory(small_run):
    return history_from_documents(
        small_run.city_geojson,
        small_run.routes_geojson,
        small_run.roster,
        small_run.fixes,
        small_run.events,
        small_run.vehicle_ids,
        small_run.event_kinds,
    )


def test_prepared_legs_give_the_same_answers_as_the_in_memory_path(prepared, in_memory):
    url, report = prepared
    assert report.shifts == 4 and report.legs > 0
    again = run(_with(url, lambda c: prepare(c, *PERIOD)))
    assert again.shifts == 0  # nothing left to prepare

    stored = run(_with(url, lambda c: service.answer(c, "question", "tip_trips_per_shift", {}, *PERIOD, K)))
    expected = ask("tip_trips_per_shift", in_memory, {}, ctx=Context(privacy=K))
    assert stored.answer["number"] == expected.to_dict()["number"]
    assert stored.answer["table"] == expected.to_dict()["table"]

    params = {"minutes": -30, "replicates": 100}
    scenario = run(_with(url, lambda c: service.answer(c, "scenario", "start_time", params, *PERIOD, K)))
    expected = run_scenario("start_time", in_memory, params, K).to_dict()
    for mine, theirs in zip(scenario.answer["kpis"], expected["kpis"]):
        assert mine["delta"] == pytest.approx(theirs["delta"], rel=1e-3, abs=1e-3), mine["name"]


def test_asking_twice_returns_the_stored_answer_and_new_data_a_new_one(prepared):
    url, _ = prepared
    first = run(_with(url, lambda c: service.answer(c, "question", "turnaround_by_facility", {}, *PERIOD, K)))
    second = run(_with(url, lambda c: service.answer(c, "question", "turnaround_by_facility", {}, *PERIOD, K)))
    assert not first.cached and second.cached
    assert second.result_id == first.result_id and second.answer == first.answer
    fetched = run(_with(url, lambda c: service.get(c, first.result_id)))
    assert fetched.answer == first.answer and fetched.inputs["params"] == {}
    # New data: one shift's legs are prepared anew.
    run(
        _with(
            url, lambda c: c.execute("DELETE FROM whatif_prepared WHERE shift_id = (SELECT min(shift_id) FROM shifts)")
        )
    )
    assert run(_with(url, lambda c: prepare(c, *PERIOD))).shifts == 1
    third = run(_with(url, lambda c: service.answer(c, "question", "turnaround_by_facility", {}, *PERIOD, K)))
    assert third.result_id != first.result_id
    assert run(_with(url, lambda c: service.get(c, first.result_id))).answer == first.answer


def test_an_edited_street_makes_a_new_answer(prepared):
    """An answer depends on the network's speeds: editing a speed limit keeps the number of
    segments, which is all the fingerprint once looked at, so the old answer was served again."""
    url, _ = prepared
    ask = lambda c: service.answer(c, "question", "turnaround_by_facility", {}, *PERIOD, K)  # noqa: E731
    before = run(_with(url, ask))
    edit = "UPDATE street_segments SET speed_limit_kmh = speed_limit_kmh + $1 WHERE segment_id = (SELECT min(segment_id) FROM street_segments)"
    run(_with(url, lambda c: c.execute(edit, 10)))
    try:
        after = run(_with(url, ask))
        assert not after.cached and after.result_id != before.result_id
    finally:
        run(_with(url, lambda c: c.execute(edit, -10)))


def test_bad_requests_are_refused_with_a_reason(prepared):
    url, _ = prepared
    for kind, name, params, match in (
        ("question", "nope", {}, "unknown question"),
        ("scenario", "start_time", {"minutes": "soon"}, "must be float"),
        ("scenario", "resequence", {}, "route_id"),
    ):
        with pytest.raises(service.WhatIfError, match=match):
            run(_with(url, lambda c: service.answer(c, kind, name, params, *PERIOD, K)))  # noqa: B023 (run now)
    with pytest.raises(service.WhatIfError, match="time zone"):
        run(_with(url, lambda c: service.answer(c, "question", "truck_hours_by_weekday", {}, *PERIOD, K, "Mars/Base")))
    with pytest.raises(service.WhatIfError, match="no prepared shifts"):
        run(
            _with(
                url,
                lambda c: service.answer(
                    c, "question", "truck_hours_by_weekday", {}, date(2001, 1, 1), date(2001, 1, 8), K
                ),
            )
        )


def test_the_api_serves_data_officers_only_and_links_to_the_stored_answer(prepared, pilot_settings, pilot_users):
    app = create_app(pilot_settings)
    with TestClient(app) as client:
        token = {r: issue_access_token(app.state.token_keys, uid, r)[0] for r, uid in pilot_users.items()}
        auth = {r: {"Authorization": f"Bearer {t}"} for r, t in token.items()}
        query = {"from": PERIOD[0].isoformat(), "to": PERIOD[1].isoformat()}
        assert client.get("/api/v1/whatif").status_code == 401
        for role in ("supervisor", "driver", "admin"):
            assert client.get("/api/v1/whatif", headers=auth[role]).status_code == 403
            assert (
                client.post(
                    "/api/v1/whatif/questions/tip_trips_per_shift", params=query, json={}, headers=auth[role]
                ).status_code
                == 403
            )
        catalog = client.get("/api/v1/whatif", headers=auth["data_officer"]).json()
        assert len(catalog["questions"]) >= 20 and len(catalog["scenarios"]) == 6
        asked = client.post(
            "/api/v1/whatif/questions/harsh_rate_segments",
            params=query,
            json={"params": {"n": 5}},
            headers=auth["data_officer"],
        )
        assert asked.status_code == 200, asked.text
        body = asked.json()
        assert body["answer"]["params"]["n"] == 5 and body["inputs"]["k_shifts"] == 2
        shared = client.get(body["link"], headers=auth["data_officer"])
        assert shared.status_code == 200 and shared.json()["answer"] == body["answer"] and shared.json()["cached"]
        bad = client.post("/api/v1/whatif/scenarios/teleport", params=query, json={}, headers=auth["data_officer"])
        assert bad.status_code == 422 and "unknown scenario" in bad.text
        recent = client.get("/api/v1/whatif/results", headers=auth["data_officer"]).json()
        assert recent[0]["result_id"] == body["result_id"]
        assert client.get("/api/v1/whatif/results/" + "0" * 32, headers=auth["data_officer"]).status_code == 404


def test_the_command_line_asks_shows_and_refuses(prepared, monkeypatch, capsys):
    from fleetpilot.cli import main

    url, _ = prepared
    monkeypatch.setenv("FLEETPILOT_DATABASE_URL", url)
    period = ["--from", PERIOD[0].isoformat(), "--to", PERIOD[1].isoformat()]
    assert main(["whatif", "list"]) == 0
    assert "rebalance" in capsys.readouterr().out
    assert main(["whatif", "ask", "deadhead_share_by_route", *period]) == 0
    out = capsys.readouterr().out
    result_id = out.split(", id ")[1][:32]
    assert "What share of driven km was deadhead, by route?" in out and "assumptions:" in out
    assert main(["whatif", "show", result_id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["result_id"] == result_id and shown["cached"]
    assert main(["whatif", "scenario", "rebalance", "-p", "max_moves=2", "-p", "replicates=60", *period]) == 0
    assert "Δ" in capsys.readouterr().out
    assert main(["whatif", "scenario", "start_time", "-p", "minutes=soon", *period]) == 2
    assert "must be float" in capsys.readouterr().err


def test_preparing_without_a_city_says_what_to_do(db_url, monkeypatch, capsys):
    from fleetpilot.cli import main

    monkeypatch.setenv("FLEETPILOT_DATABASE_URL", db_url)
    assert main(["whatif", "prepare"]) == 2
    assert "no street network imported yet" in capsys.readouterr().err


def _arrays(history) -> dict[str, np.ndarray]:
    """Every array of a History by dotted name (e.g. "legs.duration_s")."""
    out = {}
    for part in ("network", "facilities", "plans", "shifts", "legs", "visits"):
        for f in fields(getattr(history, part)):
            out[f"{part}.{f.name}"] = getattr(getattr(history, part), f.name)
    return out


def _same(a, b) -> bool:
    x, y = _arrays(a), _arrays(b)
    return x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)


def test_a_kept_history_is_shared_read_only_until_what_it_was_read_from_changes(prepared, in_memory):
    url, _ = prepared
    forget_cached()
    first, total = run(_with(url, lambda c: load_history(c, *PERIOD)))
    again, _ = run(_with(url, lambda c: load_history(c, *PERIOD)))
    assert again is first and total == first.shifts.size == 4
    with pytest.raises(ValueError, match="read-only"):
        first.legs.duration_s[0] = 0.0  # an answer cannot change the next one's data
    # The released shifts are part of the key: another set is another History.
    some = frozenset(first.shifts.shift_ids[:2].tolist())
    part, part_total = run(_with(url, lambda c: load_history(c, *PERIOD, only=some)))
    assert part is not first and part_total == 2 and set(part.shifts.shift_ids) == some
    # The stop visits read by COPY are the ones the in-memory path finds, shift by shift.
    for i, shift_id in enumerate(in_memory.shifts.shift_ids):
        j = int(np.flatnonzero(first.shifts.shift_ids == shift_id)[0])
        mine = in_memory.visits.shift == i
        theirs = first.visits.shift == j
        assert np.array_equal(in_memory.plans.stop_ids[in_memory.visits.stop[mine]],
                              first.plans.stop_ids[first.visits.stop[theirs]]), shift_id  # fmt: skip
        assert np.allclose(in_memory.visits.t[mine], first.visits.t[theirs], atol=1e-3), shift_id
    assert first.visits.size > 0

    # A rollup rewriting one shift's legs: the next load reads the month again.
    shift = str(first.shifts.shift_ids[0])
    run(_with(url, lambda c: c.execute("DELETE FROM whatif_prepared WHERE shift_id = $1", shift)))
    assert run(_with(url, lambda c: prepare(c, *PERIOD))).shifts == 1
    after, _ = run(_with(url, lambda c: load_history(c, *PERIOD)))
    assert after is not first and _same(after, first)  # the same fixes give the same legs
    # The city edited: its version moves, the next load builds the city and the History again.
    segment = str(first.network.segment_ids[0])
    edit = "UPDATE street_segments SET speed_limit_kmh = speed_limit_kmh + $2 WHERE segment_id = $1"
    run(_with(url, lambda c: c.execute(edit, segment, 10)))
    try:
        edited, _ = run(_with(url, lambda c: load_history(c, *PERIOD)))
        assert edited is not after
        assert edited.network.speed_limit_mps[0] == pytest.approx(after.network.speed_limit_mps[0] + 10 / 3.6)
    finally:
        run(_with(url, lambda c: c.execute(edit, segment, -10)))
    # What a process keeps is what it would read anew.
    kept, _ = run(_with(url, lambda c: load_history(c, *PERIOD)))
    forget_cached()
    fresh, _ = run(_with(url, lambda c: load_history(c, *PERIOD)))
    assert fresh is not kept and _same(fresh, kept)


def test_the_bench_asks_through_the_doors_own_path_as_a_data_officer(prepared, pilot_users, monkeypatch):
    from argparse import Namespace

    from fleetpilot_bench import whatif_db

    url, _ = prepared
    calls = []
    real = service.answer_in_scope

    async def spy(conn, access, *args):
        calls.append(access)
        return await real(conn, access, *args)

    monkeypatch.setattr(service, "answer_in_scope", spy)
    args = Namespace(repeats=1, questions="tip_trips_per_shift")
    report = run(_with(url, lambda c: whatif_db._measure(c, args, "UTC")))
    assert report["questions"]["tip_trips_per_shift"]["uncached_s"] and report["cold_answer"]["s"] > 0
    # The cold answer, the question and every scenario asked (or refused with a reason) went through it.
    assert len(calls) == 2 + len(report["scenarios"]) + sum(k.startswith("scenario:") for k in report["errors"])
    assert {(a.principal.username, a.principal.role) for a in calls} == {("bench-data-officer", "data_officer")}
    users = run(_with(url, lambda c: c.fetch("SELECT DISTINCT created_by FROM whatif_results")))
    assert [r["created_by"] for r in users] == [calls[0].principal.user_id]
