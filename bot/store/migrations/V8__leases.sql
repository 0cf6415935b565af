-- Several processes on one database (bot/jobs/leases.py): each unfinished job is owned by one
-- process at a time. lease_owner names the owning process's instance (stable across its
-- restarts, so a restarted process takes its jobs back at once), lease_expires_at (Unix
-- seconds) is when another process may take the job if the owner stops renewing, and
-- lease_epoch grows with every taking, so a write by an owner that has lost the job (it
-- carries the epoch it took) matches no row.

ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_at DOUBLE PRECISION;
ALTER TABLE jobs ADD COLUMN lease_epoch BIGINT NOT NULL DEFAULT 0;
CREATE INDEX jobs_lease ON jobs (lease_owner, state);

-- Rate limits shared by all processes (bot/cluster/limiter.py): one row per bucket, locked
-- by whoever grants in it, and the grants that still occupy each bucket.
CREATE TABLE rate_buckets (
    bucket TEXT PRIMARY KEY
);

CREATE TABLE rate_grants (
    id       TEXT PRIMARY KEY,
    bucket   TEXT NOT NULL,
    tokens   INTEGER NOT NULL,
    frees_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX rate_grants_bucket ON rate_grants (bucket, frees_at);
