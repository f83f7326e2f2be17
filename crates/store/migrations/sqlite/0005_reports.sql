-- What Apple's reports count that is not a commerce transaction: app units (first-time
-- downloads, redownloads, updates, restores) per reporting day and per the dimensions that Sales
-- and Trends (reports-formats.md §2.4) and the Analytics Reports (§4.3 "App Downloads") group by.
-- Written by the commerce simulator in bulk; purchases stay in the ledger's transactions.
-- `day` is the reporting day `YYYY-MM-DD` in Pacific time (reports-formats.md §2.3).
CREATE TABLE IF NOT EXISTS report_app_units (
    app_id           TEXT NOT NULL,  -- the `apps` resource id (Apple Identifier)
    day              TEXT NOT NULL,
    download_type    TEXT NOT NULL,  -- Apple's Download Type: First-time download, Redownload, Manual update, Auto-update, Restore
    app_version      TEXT NOT NULL,
    device           TEXT NOT NULL,  -- iPhone, iPad, Desktop, Apple TV, Apple Watch, Apple Vision Pro
    platform_version TEXT NOT NULL,  -- e.g. iOS 18.2
    source_type      TEXT NOT NULL,  -- App Store search, App Store browse, App referrer, Web referrer, ...
    source_info      TEXT NOT NULL DEFAULT '',  -- referring app or domain
    campaign         TEXT NOT NULL DEFAULT '',  -- campaign link name
    page_type        TEXT NOT NULL DEFAULT 'Product page',
    territory        TEXT NOT NULL,  -- ISO 3166-1 alpha-2
    pre_order        INTEGER NOT NULL DEFAULT 0,
    units            INTEGER NOT NULL,
    PRIMARY KEY (app_id, day, download_type, app_version, device, platform_version, source_type,
                 source_info, campaign, page_type, territory, pre_order)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS report_app_units_day ON report_app_units (day);

-- Sales reports read transactions by the day they were bought and the day they were refunded.
CREATE INDEX IF NOT EXISTS commerce_transactions_purchase ON commerce_transactions (purchase_ms);
CREATE INDEX IF NOT EXISTS commerce_transactions_revoked ON commerce_transactions (revoked_ms)
    WHERE revoked_ms IS NOT NULL;
