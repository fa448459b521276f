"""SQL of the what-if service's stored answers (whatif_results). Parameters are always $n.

JSON goes in as text cast in SQL, so it is stored the same whatever jsonb codec the
connection has (the API's pool decodes jsonb to objects; the CLI's connection does not).
"""

GET_RESULT = """
SELECT result_id, kind, name, inputs, data_fingerprint, answer, compute_s, created_at FROM whatif_results
WHERE result_id = $1
"""
INSERT_RESULT = """
INSERT INTO whatif_results (result_id, kind, name, inputs, data_fingerprint, answer, compute_s, created_by)
VALUES ($1, $2, $3, $4::text::jsonb, $5, $6::text::jsonb, $7, $8)
ON CONFLICT (result_id) DO NOTHING
"""
RECENT_RESULTS = """
SELECT result_id, kind, name, inputs, compute_s, created_at FROM whatif_results ORDER BY created_at DESC LIMIT $1
"""
