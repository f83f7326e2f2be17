-- The report files cache (crates/reports/src/cache.rs): Sales and Trends and Finance answers of
-- closed periods, generated once and shared by every process and replica on this database.
--
-- `report_generation.token` names the state of everything a closed period's file is computed from
-- besides the commerce events of that period (which are dated at the virtual now or later, so
-- they never land in a closed period): the catalogue (resources and their linkage: app names,
-- SKUs, price schedules, product and offer code names), the team name and vendor number, and the
-- ledger as a whole (emptied by `ledger_clear`, which also empties this table). Any change of them
-- replaces the token, in the writer's own transaction, through the triggers below; a cached file
-- is served only under the token it was generated with. The token is random (not a counter) so
-- that two databases never share one.
CREATE TABLE IF NOT EXISTS report_generation (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    token TEXT NOT NULL
);
INSERT INTO report_generation (id, token) VALUES (1, lower(hex(randomblob(8))))
    ON CONFLICT (id) DO NOTHING;

-- One answer per request key (report, version or region, period, vendor): a gzip file (status
-- 200, its content type and headers as a JSON array of [name, value]) or Apple's "no sales" 404
-- (status 404, empty body, `reason` for the log). Rows of an older generation are never served.
CREATE TABLE IF NOT EXISTS report_files (
    key          TEXT PRIMARY KEY,
    generation   TEXT NOT NULL,
    status       INTEGER NOT NULL,
    content_type TEXT,
    headers      TEXT NOT NULL DEFAULT '[]',
    body         BLOB NOT NULL,
    reason       TEXT NOT NULL DEFAULT '',
    created_ms   INTEGER NOT NULL
);

CREATE TRIGGER IF NOT EXISTS report_generation_resource_insert AFTER INSERT ON resources
BEGIN UPDATE report_generation SET token = lower(hex(randomblob(8))) WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS report_generation_resource_update AFTER UPDATE ON resources
BEGIN UPDATE report_generation SET token = lower(hex(randomblob(8))) WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS report_generation_resource_delete AFTER DELETE ON resources
BEGIN UPDATE report_generation SET token = lower(hex(randomblob(8))) WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS report_generation_edge_insert AFTER INSERT ON edges
BEGIN UPDATE report_generation SET token = lower(hex(randomblob(8))) WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS report_generation_edge_update AFTER UPDATE ON edges
BEGIN UPDATE report_generation SET token = lower(hex(randomblob(8))) WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS report_generation_edge_delete AFTER DELETE ON edges
BEGIN UPDATE report_generation SET token = lower(hex(randomblob(8))) WHERE id = 1; END;
-- The team's name is the files' Developer / Vendor Name; the vendor number names them.
CREATE TRIGGER IF NOT EXISTS report_generation_team_insert AFTER INSERT ON meta
WHEN NEW.key IN ('team.name', 'team.vendorNumber')
BEGIN UPDATE report_generation SET token = lower(hex(randomblob(8))) WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS report_generation_team_update AFTER UPDATE ON meta
WHEN NEW.key IN ('team.name', 'team.vendorNumber') AND NEW.value IS NOT OLD.value
BEGIN UPDATE report_generation SET token = lower(hex(randomblob(8))) WHERE id = 1; END;
