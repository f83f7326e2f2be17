-- Requests per API key per minute (crates/store/src/quota.rs): the hourly rate limit counted in
-- the database, shared by every replica of a PostgreSQL store. A single SQLite process counts in
-- memory instead; the table is here so both schemas stay the same.
CREATE TABLE IF NOT EXISTS rate_counts (
    key       TEXT NOT NULL,
    bucket_ms INTEGER NOT NULL,
    -- The counting process: each replica increments rows of its own (no lock waits between
    -- replicas); the quota is the sum over all of them.
    replica   TEXT NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (key, bucket_ms, replica)
);
