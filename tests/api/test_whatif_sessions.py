"""Issue 16, item 4: a "what if" question session — questions recorded (text, department,
asked at), triaged (answered by a stored answer with its name and parameters, needs data we
don't have, out of scope), exported as one document; a question naming a person is refused;
only the data officer runs it, and triage is audited."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from support import run

from fleetpilot.api import policy
from fleetpilot.api.whatif.service import RELEASE_RULE, fingerprint


def _stored_answer(api, start, end) -> str:
    """A stored library answer over [start, end), as the what-if stores them (current data)."""

    async def go():
        import asyncpg

        conn = await asyncpg.connect(api.database_url)
        try:  # the fingerprint of the shifts the answer may use (the released ones)
            released = await policy.released_shifts(conn, policy.AggregateScope(start, end, 5, 3), "UTC")
            return await fingerprint(conn, start, end, "UTC", released)
        finally:
            await conn.close()

    rid = uuid.uuid4().hex
    inputs = {"params": {"weeks": 4}, "from": str(start), "to": str(end), "tz": "UTC", "k_shifts": 5, "k_people": 3}
    answer = {"title": "Tip trips per shift", "number": {"value": 1.75, "unit": "trips", "label": "mean per shift"}}
    api.sql(
        "INSERT INTO whatif_results (result_id, kind, name, inputs, data_fingerprint, answer, compute_s) "
        "VALUES ($1, 'question', 'tip_trips_per_shift', $2::text::jsonb, $3, $4::text::jsonb, 0.1)",
        rid,
        json.dumps({**inputs, "release": RELEASE_RULE}),
        run(go()),
        json.dumps(answer),
    )
    return rid


def test_a_session_records_triages_and_exports_its_questions(api):
    week1 = api.world.week1
    made = api.post(
        "/api/v1/whatif/sessions", "data_officer", json={"title": "Agency heads, autumn", "held_on": str(week1)}
    )
    assert made.status_code == 201, made.text
    sid = made.json()["session_id"]
    asked = [
        ("How many tip trips does a shift make?", "Public Works"),
        ("Which streets flood after heavy rain?", "Water department"),
        ("Could we sell the old depot?", "Finance"),
        ("Why was the street sweeper late?", "Mayor's office"),
    ]
    ids = []
    for text, department in asked:
        answer = api.post(
            f"/api/v1/whatif/sessions/{sid}/questions", "data_officer", json={"text": text, "department": department}
        )
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["question_id"])
    # Crews are pseudonymous: a question naming a person (identity.person_names) is refused.
    named = api.post(
        f"/api/v1/whatif/sessions/{sid}/questions",
        "data_officer",
        json={"text": "Is Ana Alves slower than the others?", "department": "HR"},
    )
    assert named.status_code == 422 and "names a person" in named.text
    for role in ("driver", "supervisor", "admin"):
        assert (
            api.post(
                f"/api/v1/whatif/sessions/{sid}/questions", role, json={"text": "x" * 9, "department": "HR"}
            ).status_code
            == 403
        )

    rid = _stored_answer(api, week1, week1 + timedelta(weeks=3))
    put = api.client.put
    path = f"/api/v1/whatif/sessions/{sid}/questions/{{}}/triage"
    headers = api.headers("data_officer")
    # Answered needs a stored answer; needs_data needs which data.
    assert (
        put(path.format(ids[0]), json={"triage": "answered", "result_id": "0" * 32}, headers=headers).status_code == 422
    )
    assert put(path.format(ids[1]), json={"triage": "needs_data"}, headers=headers).status_code == 422
    assert put(path.format(ids[0]), json={"triage": "answered", "result_id": rid}, headers=headers).status_code == 200
    assert (
        put(
            path.format(ids[1]), json={"triage": "needs_data", "needs_data": "flood gauges per street"}, headers=headers
        ).status_code
        == 200
    )
    assert (
        put(
            path.format(ids[2]), json={"triage": "out_of_scope", "note": "property, not the fleet"}, headers=headers
        ).status_code
        == 200
    )

    detail = api.get(f"/api/v1/whatif/sessions/{sid}", "data_officer").json()
    assert [(q["text"], q["department"], q["triage"]) for q in detail["questions"]] == [
        (asked[0][0], asked[0][1], "answered"),
        (asked[1][0], asked[1][1], "needs_data"),
        (asked[2][0], asked[2][1], "out_of_scope"),
        (asked[3][0], asked[3][1], "open"),
    ]
    first = detail["questions"][0]
    assert (first["answer_name"], first["answer_inputs"]["params"], first["answer_withdrawn"]) == (
        "tip_trips_per_shift",
        {"weeks": 4},
        False,
    )
    listed = api.get("/api/v1/whatif/sessions", "data_officer").json()
    assert [(s["session_id"], s["questions"], s["open"]) for s in listed] == [(sid, 4, 1)]
    audited = api.sql("SELECT detail->>'triage' AS t FROM audit_log WHERE action = 'whatif_triage' ORDER BY audit_id")
    assert [r["t"] for r in audited] == ["answered", "needs_data", "out_of_scope"]

    export = api.get(f"/api/v1/whatif/sessions/{sid}/export", "data_officer")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/html")
    doc = " ".join(export.text.split())
    assert "4 questions: 1 not yet triaged, 1 answered, 1 needs data we don&#39;t have, 1 out of scope." in doc
    assert "tip_trips_per_shift" in doc and "1.75 trips" in doc and "weeks = 4" in doc
    assert "needs: flood gauges per street" in doc and "property, not the fleet" in doc
    assert "Mayor&#39;s office" in doc

    # When k changes, the stored answer no longer holds; the export says so instead of showing it.
    api.sql("UPDATE privacy_settings SET k_min_shifts = 6")
    again = " ".join(api.get(f"/api/v1/whatif/sessions/{sid}/export", "data_officer").text.split())
    assert "was withdrawn" in again and "1.75 trips" not in again


def test_a_withdrawn_answer_leaves_no_figure_in_the_session(api):
    """Issue 13 (stored answers outlive their rule), the session doors: once a linked answer is
    withdrawn — k changed, or the data of a released block it was computed from — neither
    the session's detail nor its export carries its figures; back as it was, it is served."""
    week1 = api.world.week1
    sid = api.post(
        "/api/v1/whatif/sessions", "data_officer", json={"title": "Agency heads", "held_on": str(week1)}
    ).json()["session_id"]
    qid = api.post(
        f"/api/v1/whatif/sessions/{sid}/questions",
        "data_officer",
        json={"text": "How many tip trips does a shift make?", "department": "Public Works"},
    ).json()["question_id"]
    rid = _stored_answer(api, week1, week1 + timedelta(weeks=3))
    triaged = api.client.put(
        f"/api/v1/whatif/sessions/{sid}/questions/{qid}/triage",
        json={"triage": "answered", "result_id": rid},
        headers=api.headers("data_officer"),
    )
    assert triaged.status_code == 200, triaged.text

    def read() -> tuple[dict, str]:
        detail = api.get(f"/api/v1/whatif/sessions/{sid}", "data_officer").json()["questions"][0]
        return detail, " ".join(api.get(f"/api/v1/whatif/sessions/{sid}/export", "data_officer").text.split())

    served, doc = read()
    assert (served["answer_withdrawn"], served["answer_number"]["value"]) == (False, 1.75) and "1.75 trips" in doc
    api.sql("UPDATE privacy_settings SET k_min_shifts = 6")
    gone, doc = read()
    assert gone["answer_withdrawn"] and (gone["answer_number"], gone["answer_title"]) == (None, None)
    assert "1.75" not in str(gone) and "1.75 trips" not in doc
    api.sql("UPDATE privacy_settings SET k_min_shifts = 5")
    assert read()[0] == served
    # A crew change in a released week (week 1 of r-north) changes the data the answer was made from.
    shift = sorted(
        s for s, (start, _) in api.world.shift_window.items() if "truck-1" in s and start.date() < week1 + timedelta(7)
    )[0]
    api.sql("UPDATE shifts SET ends_at = ends_at + interval '1 hour' WHERE shift_id = $1", shift)
    stale, doc = read()
    assert stale["answer_withdrawn"] and stale["answer_number"] is None and "1.75 trips" not in doc
