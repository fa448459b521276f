"""'What if' question sessions: questions from agency heads, recorded and triaged by the data
officer, exported as one document (migration 0026). A question is answered by linking a
stored what-if answer (its name and parameters come from it), or marked as needing data the
pilot does not have (which), or out of scope. A question that names a person (a real name of
identity.person_names) is refused: questions are about routes, streets and the fleet."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from pathlib import Path

import asyncpg
import jinja2

from fleetpilot.api import policy

NAMED = """
SELECT full_name FROM identity.person_names
WHERE length(full_name) >= 3 AND position(lower(full_name) IN lower($1)) > 0
LIMIT 1
"""
ADD_SESSION = """
INSERT INTO question_sessions (title, held_on, created_by) VALUES ($1, $2, $3)
RETURNING session_id, title, held_on, created_at, created_by
"""
SESSIONS = """
SELECT s.session_id, s.title, s.held_on, s.created_at, s.created_by,
       count(q.question_id) AS questions, count(q.question_id) FILTER (WHERE q.triage = 'open') AS open
FROM question_sessions s LEFT JOIN session_questions q USING (session_id)
GROUP BY s.session_id ORDER BY s.held_on DESC, s.session_id DESC
"""
SESSION = "SELECT session_id, title, held_on, created_at, created_by FROM question_sessions WHERE session_id = $1"
ADD_QUESTION = """
INSERT INTO session_questions (session_id, text, department, asked_at) VALUES ($1, $2, $3, coalesce($4, now()))
RETURNING question_id
"""
QUESTIONS = """
SELECT q.question_id, q.text, q.department, q.asked_at, q.triage, q.result_id, q.needs_data, q.note, q.triaged_at,
       q.triaged_by, r.kind AS answer_kind, r.name AS answer_name, r.inputs AS answer_inputs, r.answer
FROM session_questions q LEFT JOIN whatif_results r USING (result_id)
WHERE q.session_id = $1 ORDER BY q.question_id
"""
TRIAGE = """
UPDATE session_questions
SET triage = $3, result_id = $4, needs_data = $5, note = $6, triaged_at = now(), triaged_by = $7
WHERE session_id = $1 AND question_id = $2
RETURNING question_id
"""
RESULT_EXISTS = "SELECT EXISTS (SELECT 1 FROM whatif_results WHERE result_id = $1)"


class SessionError(ValueError):
    """A question or triage that cannot be recorded as given."""


class NotFound(LookupError):
    """No such session or question (the router answers 404)."""


async def refuse_names(conn: asyncpg.Connection, text: str) -> None:
    if await conn.fetchval(NAMED, text):
        raise SessionError(
            "the question names a person: ask about routes, streets or the fleet (crews are pseudonymous)"
        )


async def add_session(conn: asyncpg.Connection, actor: policy.Principal, title: str, held_on: date) -> dict:
    async with conn.transaction():
        row = await conn.fetchrow(ADD_SESSION, title, held_on, actor.username)
        await policy.audit(conn, actor, "whatif_session", detail={"session_id": row["session_id"], "title": title})
    return {**dict(row), "questions": 0, "open": 0}


async def sessions(conn: asyncpg.Connection) -> list[dict]:
    return [dict(r) for r in await conn.fetch(SESSIONS)]


async def session(conn: asyncpg.Connection, session_id: int) -> dict:
    row = await conn.fetchrow(SESSION, session_id)
    if row is None:
        raise NotFound("no such session")
    questions = []
    for q in await conn.fetch(QUESTIONS, session_id):
        item = dict(q)
        answer = item.pop("answer")
        if isinstance(answer, str):  # a plain connection (the CLI) hands back json as text
            import json

            answer = json.loads(answer)
            item["answer_inputs"] = json.loads(item["answer_inputs"]) if item["answer_inputs"] else None
        item["answer_title"] = answer.get("title") if answer else None
        item["answer_number"] = answer.get("number") if answer else None
        item["answer_withdrawn"] = item["triage"] == "answered" and answer is None
        questions.append(item)
    return {**dict(row), "questions": questions}


async def add_question(
    conn: asyncpg.Connection, session_id: int, text: str, department: str, asked_at: datetime | None
) -> int:
    await refuse_names(conn, text)
    if await conn.fetchrow(SESSION, session_id) is None:
        raise NotFound("no such session")
    return int(await conn.fetchval(ADD_QUESTION, session_id, text, department, asked_at))


async def triage(
    conn: asyncpg.Connection,
    actor: policy.Principal,
    session_id: int,
    question_id: int,
    decision: str,
    result_id: str | None,
    needs_data: str | None,
    note: str | None,
) -> None:
    if decision == "answered":
        if not result_id or not await conn.fetchval(RESULT_EXISTS, result_id):
            raise SessionError("an answered question links a stored what-if answer (result_id from /whatif/results)")
    elif decision == "needs_data" and not needs_data:
        raise SessionError("say which data the question needs")
    if note:
        await refuse_names(conn, note)
    keep_result = result_id if decision == "answered" else None
    keep_needs = needs_data if decision == "needs_data" else None
    async with conn.transaction():
        done = await conn.fetchval(
            TRIAGE, session_id, question_id, decision, keep_result, keep_needs, note, actor.username
        )
        if done is None:
            raise NotFound("no such question in this session")
        await policy.audit(
            conn,
            actor,
            "whatif_triage",
            detail={"session_id": session_id, "question_id": question_id, "triage": decision, "result_id": keep_result},
        )


WORDS = {
    "open": "not yet triaged",
    "answered": "answered",
    "needs_data": "needs data we don't have",
    "out_of_scope": "out of scope",
}
TEMPLATE = Path(__file__).with_name("session_export.html")


def export_html(s: dict) -> str:
    """The session's questions and answers as one HTML document (autoescaped)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE.parent), autoescape=True)
    counts = Counter(q["triage"] for q in s["questions"])
    return env.get_template(TEMPLATE.name).render(
        s=s,
        words=WORDS,
        counts={k: counts[k] for k in WORDS if counts[k]},
        departments=dict(Counter(q["department"] for q in s["questions"]).most_common()),
    )
