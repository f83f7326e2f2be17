-- crabapple core schema (SQLite). Times are epoch milliseconds, as Apple's APIs use them.
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Every App Store Connect resource, JSON:API style: (type, id) with its attributes as JSON.
CREATE TABLE IF NOT EXISTS resources (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    type       TEXT NOT NULL,
    id         TEXT NOT NULL,
    attributes TEXT NOT NULL DEFAULT '{}',
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    UNIQUE (type, id)
);

-- Relationship linkage, one row per (source, relationship, target); `ord` keeps insertion order.
CREATE TABLE IF NOT EXISTS edges (
    src_type TEXT NOT NULL,
    src_id   TEXT NOT NULL,
    rel      TEXT NOT NULL,
    dst_type TEXT NOT NULL,
    dst_id   TEXT NOT NULL,
    ord      INTEGER NOT NULL,
    PRIMARY KEY (src_type, src_id, rel, dst_type, dst_id)
);
CREATE INDEX IF NOT EXISTS edges_by_src ON edges (src_type, src_id, rel, ord);
CREATE INDEX IF NOT EXISTS edges_by_dst ON edges (dst_type, dst_id);

-- API keys (App Store Connect team and individual keys, In-App Purchase keys).
CREATE TABLE IF NOT EXISTS api_keys (
    key_id     TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    issuer_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    roles      TEXT NOT NULL DEFAULT '[]',
    user_id    TEXT,
    public_key BLOB NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
);
