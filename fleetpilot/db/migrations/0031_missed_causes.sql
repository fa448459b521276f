-- Missed streets get their cause (issue 18, item 3). A crew gives the cause of a planned
-- service segment their shift missed (api/me: /me/shifts/{id}/causes); the cause belongs to the
-- shift and segment, the latest one made on a phone wins, and each change is written to the
-- audit log. A blocked-street hazard report about the segment (0028), made on that shift or
-- while it was on duty, is taken as its cause when the crew gave none.
--
-- A missed segment with a cause is not the crew's shortfall: shift_shortfall is shift_metrics'
-- missed segments and coverage with the caused segments taken out (left out of the rate, as
-- "unknown — no data" segments are). Doors that count misses (coverage, efficiency, goals, 311
-- evidence) read it instead of shift_metrics.missed_segments / coverage.
CREATE TABLE missed_causes (
    shift_id     text NOT NULL REFERENCES shifts ON DELETE CASCADE,
    segment_id   text NOT NULL,
    cause        text NOT NULL CHECK (cause IN ('blocked_by_works', 'parked_cars', 'no_access', 'bins_not_out', 'other')),
    person_id    text REFERENCES people ON DELETE SET NULL,   -- who gave it: read for the crew's own view only
    client_key   text NOT NULL CHECK (length(client_key) BETWEEN 8 AND 64),  -- the phone's idempotency key
    made_at      timestamptz NOT NULL,  -- chosen on the phone (a queued cause may arrive late)
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shift_id, segment_id)
);

CREATE INDEX hazards_segment ON hazards (segment_id) WHERE segment_id IS NOT NULL;

-- Per shift and missed segment that has a cause: the crew's, else 'blocked_street' from a
-- hazard report (source says which). No person leaves this view.
CREATE VIEW shift_causes AS
SELECT m.shift_id, u.segment_id, coalesce(c.cause, 'blocked_street') AS cause,
       CASE WHEN c.cause IS NULL THEN 'hazard_report' ELSE 'crew' END AS source
FROM shift_metrics m
JOIN shifts s ON s.shift_id = m.shift_id
CROSS JOIN LATERAL unnest(m.missed_segments) AS u(segment_id)
LEFT JOIN missed_causes c ON c.shift_id = m.shift_id AND c.segment_id = u.segment_id
WHERE c.cause IS NOT NULL OR EXISTS (
    SELECT 1 FROM hazards h JOIN hazard_reports r ON r.hazard_id = h.hazard_id
    WHERE h.category = 'blocked_street' AND h.segment_id = u.segment_id
      AND (r.shift_id = m.shift_id OR r.made_at BETWEEN s.starts_at AND s.ends_at)
);

-- Per shift: the crew's shortfall (missed segments without a cause, in plan order), the caused
-- segments, and coverage without the caused segments: serviced / (known − caused), where known
-- is the planned service segments of the shift's route version less the no-data ones. A shift
-- without causes keeps shift_metrics.coverage as computed.
CREATE VIEW shift_shortfall AS
SELECT m.shift_id,
       coalesce(x.missed, m.missed_segments) AS missed_segments,
       coalesce(x.caused, '{}') AS caused_segments,
       CASE WHEN x.caused IS NULL THEN m.coverage
            WHEN x.known - cardinality(x.caused) > 0
            THEN ((x.known - cardinality(m.missed_segments))::real / (x.known - cardinality(x.caused)))::real
       END AS coverage
FROM shift_metrics m
LEFT JOIN LATERAL (
    SELECT array_agg(c.segment_id) AS caused,
           ARRAY(SELECT seg FROM unnest(m.missed_segments) WITH ORDINALITY AS u(seg, i)
                 WHERE seg <> ALL (array_agg(c.segment_id)) ORDER BY i) AS missed,
           (SELECT count(*) FROM shifts s JOIN route_segments rs
                ON rs.route_id = s.route_id AND rs.version = s.route_version AND rs.service
            WHERE s.shift_id = m.shift_id)::int - cardinality(m.no_data_segments) AS known
    FROM shift_causes c WHERE c.shift_id = m.shift_id
    HAVING count(*) > 0
) x ON true;

-- A complaint about a street the shift missed for a stated cause says so (open311/evidence).
ALTER TABLE complaints ADD COLUMN cause text;
