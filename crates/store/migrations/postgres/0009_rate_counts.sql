-- Requests per API key per minute (crates/store/src/quota.rs): the hourly rate limit of every
-- replica counted in one place (see ../sqlite/0009_rate_counts.sql).
CREATE TABLE IF NOT EXISTS rate_counts (
    key       TEXT NOT NULL,
    bucket_ms BIGINT NOT NULL,
    -- The counting process: each replica increments rows of its own (no lock waits between
    -- replicas); the quota is the sum over all of them.
    replica   TEXT NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (key, bucket_ms, replica)
);
