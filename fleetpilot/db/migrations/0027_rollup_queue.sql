-- Rollup work for N workers on one machine or many (issue 22): ended shifts to compute wait
-- here; a worker claims a batch with FOR UPDATE SKIP LOCKED under a lease and deletes its rows
-- in the transaction that writes the results. A worker that dies leaves a lease that expires,
-- and another takes the shifts over. Late data re-queues a shift (queued_at moves past
-- claimed_at): the holder then frees it instead of deleting it, and it is computed again.
CREATE TABLE rollup_queue (
    shift_id    text PRIMARY KEY REFERENCES shifts (shift_id) ON DELETE CASCADE,
    queued_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    claimed_by  text,            -- host:pid of the worker holding the lease
    claimed_at  timestamptz,
    lease_until timestamptz      -- NULL: free; in the past: the holder died or stalled
);
CREATE INDEX rollup_queue_claimable ON rollup_queue (lease_until, queued_at);
