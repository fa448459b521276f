-- Evidence notes posted back to the city's 311 system (fleetpilot/open311/writeback.py; off
-- unless FLEETPILOT_OPEN311_WRITE_BACK is set). One row per (complaint, evidence version): a
-- version is posted once; changed evidence is a new version and a new note. update_id is
-- derived from both, so a server that received a note whose answer was lost sees the same id
-- again and can drop the duplicate.
CREATE TABLE complaint_updates (
    service_request_id text NOT NULL REFERENCES complaints (service_request_id) ON DELETE CASCADE,
    evidence_version   text NOT NULL,
    update_id          text NOT NULL UNIQUE,
    description        text NOT NULL,
    attempts           integer NOT NULL DEFAULT 0,
    last_error         text,
    first_tried_at     timestamptz NOT NULL DEFAULT now(),
    posted_at          timestamptz,            -- NULL until the 311 server accepted it
    remote_update_id   text,                   -- the id the 311 server gave the note
    PRIMARY KEY (service_request_id, evidence_version)
);
