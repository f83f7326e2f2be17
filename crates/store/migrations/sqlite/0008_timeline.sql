-- The timeline (crates/store/src/timeline.rs): changes of resources' attributes planned on the
-- virtual clock (a build's processing, a review, a phased release), applied when the clock
-- reaches them, and kept afterwards as the resource's history.
CREATE TABLE IF NOT EXISTS timeline (
    seq     INTEGER PRIMARY KEY,
    type    TEXT NOT NULL,
    id      TEXT NOT NULL,
    -- The flow that planned it (`processing`, `review`, `release`, …): cancelled as one.
    track   TEXT NOT NULL,
    -- Virtual time (ms) the change takes effect; for a recorded change, when it was made.
    at_ms   INTEGER NOT NULL,
    -- JSON object: attribute → new value.
    changes TEXT NOT NULL,
    -- Why, in words (the reviewer's reason, "phase 3 of 7", …).
    note    TEXT NOT NULL DEFAULT '',
    -- `planned` | `applied` | `cancelled`
    state   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS timeline_due ON timeline (at_ms) WHERE state = 'planned';
CREATE INDEX IF NOT EXISTS timeline_resource ON timeline (type, id, seq);
