-- "What if" question sessions (issue 16, item 4): agency heads ask, the data officer records
-- each question (text, department, when asked) and triages it: answered (a stored what-if
-- answer, whose name and parameters it carries), needs data we don't have (which), or out of
-- scope. Questions are about routes, streets and the fleet; the API refuses a question that
-- names a person (identity.person_names), as everything else is pseudonymous.
CREATE TABLE question_sessions (
    session_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title      text NOT NULL CHECK (length(title) BETWEEN 3 AND 200),
    held_on    date NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL
);

CREATE TABLE session_questions (
    question_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id  bigint NOT NULL REFERENCES question_sessions ON DELETE CASCADE,
    text        text NOT NULL CHECK (length(text) BETWEEN 5 AND 1000),
    department  text NOT NULL CHECK (length(department) BETWEEN 2 AND 120),
    asked_at    timestamptz NOT NULL DEFAULT now(),
    triage      text NOT NULL DEFAULT 'open' CHECK (triage IN ('open', 'answered', 'needs_data', 'out_of_scope')),
    -- answered: the stored answer (whatif_results; kept by id: a withdrawn answer says so on export)
    result_id   text CHECK (result_id ~ '^[0-9a-f]{32}$'),
    needs_data  text CHECK (length(needs_data) BETWEEN 3 AND 500),
    note        text CHECK (length(note) <= 1000),
    triaged_at  timestamptz,
    triaged_by  text,
    CHECK (triage <> 'answered' OR result_id IS NOT NULL),
    CHECK (triage <> 'needs_data' OR needs_data IS NOT NULL)
);
CREATE INDEX session_questions_session ON session_questions (session_id, question_id);
