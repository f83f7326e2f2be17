-- The commerce ledger behind the App Store Server API and App Store Server Notifications V2.
-- Times are epoch milliseconds on crabapple's virtual clock. Decoded payloads are kept as JSON
-- (Apple's field names); the columns next to them are what queries filter and sort on.

-- Monotonic counters: transaction ids, web order line item ids, order ids, modification sequence.
CREATE TABLE IF NOT EXISTS commerce_counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

-- A customer (an Apple Account) of one app in one environment, with its app transaction.
CREATE TABLE IF NOT EXISTS commerce_customers (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id             TEXT NOT NULL,
    bundle_id          TEXT NOT NULL,
    environment        TEXT NOT NULL,
    label              TEXT NOT NULL,
    app_account_token  TEXT,
    storefront         TEXT NOT NULL,
    app_transaction_id TEXT NOT NULL UNIQUE,
    app_transaction    TEXT NOT NULL,
    created_ms         INTEGER NOT NULL,
    UNIQUE (app_id, environment, label)
);

-- Every transaction (JWSTransactionDecodedPayload without signedDate in `payload`).
CREATE TABLE IF NOT EXISTS commerce_transactions (
    transaction_id          TEXT PRIMARY KEY,
    original_transaction_id TEXT NOT NULL,
    customer_id             INTEGER NOT NULL REFERENCES commerce_customers (id),
    app_id                  TEXT NOT NULL,
    bundle_id               TEXT NOT NULL,
    environment             TEXT NOT NULL,
    product_id              TEXT NOT NULL,
    product_type            TEXT NOT NULL,
    group_id                TEXT,
    order_id                TEXT NOT NULL,
    web_order_line_item_id  TEXT,
    ownership               TEXT NOT NULL,
    purchase_ms             INTEGER NOT NULL,
    expires_ms              INTEGER,
    revoked                 INTEGER NOT NULL DEFAULT 0,
    revoked_ms              INTEGER,
    finished                INTEGER NOT NULL DEFAULT 0,
    mod_seq                 INTEGER NOT NULL,
    refund_seq              INTEGER,
    modified_ms             INTEGER NOT NULL,
    payload                 TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS commerce_tx_by_customer ON commerce_transactions (customer_id, mod_seq);
CREATE INDEX IF NOT EXISTS commerce_tx_by_original ON commerce_transactions (original_transaction_id, purchase_ms);
CREATE INDEX IF NOT EXISTS commerce_tx_by_order ON commerce_transactions (order_id);
CREATE INDEX IF NOT EXISTS commerce_tx_refunds ON commerce_transactions (customer_id, refund_seq)
    WHERE refund_seq IS NOT NULL;

-- Renewal state of an auto-renewable subscription, one row per original transaction
-- (`renewal` = JWSRenewalInfoDecodedPayload without signedDate; `state` = scheduler state).
CREATE TABLE IF NOT EXISTS commerce_subscriptions (
    original_transaction_id TEXT PRIMARY KEY,
    customer_id             INTEGER NOT NULL REFERENCES commerce_customers (id),
    app_id                  TEXT NOT NULL,
    bundle_id               TEXT NOT NULL,
    environment             TEXT NOT NULL,
    group_id                TEXT NOT NULL,
    product_id              TEXT NOT NULL,
    status                  INTEGER NOT NULL,
    expires_ms              INTEGER NOT NULL,
    latest_transaction_id   TEXT NOT NULL,
    ownership               TEXT NOT NULL,
    storefront              TEXT NOT NULL,
    next_event_ms           INTEGER,
    renewal                 TEXT NOT NULL,
    state                   TEXT NOT NULL,
    updated_ms              INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS commerce_subs_by_customer ON commerce_subscriptions (customer_id, group_id);
CREATE INDEX IF NOT EXISTS commerce_subs_due ON commerce_subscriptions (next_event_ms)
    WHERE next_event_ms IS NOT NULL;
CREATE INDEX IF NOT EXISTS commerce_subs_by_product ON commerce_subscriptions (app_id, environment, product_id);

-- The notification outbox and history: written in the same SQL transaction as the event.
-- state: pending (an attempt is due at next_attempt_ms) | delivered | failed (retries exhausted)
--        | unsent (no V2 URL configured for the environment when the event happened).
CREATE TABLE IF NOT EXISTS commerce_notifications (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_uuid TEXT NOT NULL UNIQUE,
    app_id            TEXT NOT NULL,
    bundle_id         TEXT NOT NULL,
    environment       TEXT NOT NULL,
    notification_type TEXT NOT NULL,
    subtype           TEXT,
    customer_id       INTEGER,
    transaction_id    TEXT,
    signed_date_ms    INTEGER NOT NULL,
    signed_payload    TEXT NOT NULL,
    url               TEXT,
    test_token        TEXT UNIQUE,
    state             TEXT NOT NULL,
    attempts          TEXT NOT NULL DEFAULT '[]',
    next_attempt_ms   INTEGER,
    lease_until_ms    INTEGER
);
CREATE INDEX IF NOT EXISTS commerce_notif_due ON commerce_notifications (next_attempt_ms)
    WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS commerce_notif_history ON commerce_notifications (app_id, environment, signed_date_ms);
CREATE INDEX IF NOT EXISTS commerce_notif_by_customer ON commerce_notifications (customer_id, signed_date_ms);

-- Extend Subscription Renewal Dates for All Active Subscribers: one row per request.
CREATE TABLE IF NOT EXISTS commerce_mass_extensions (
    app_id             TEXT NOT NULL,
    environment        TEXT NOT NULL,
    product_id         TEXT NOT NULL,
    request_identifier TEXT NOT NULL,
    request            TEXT NOT NULL,
    created_ms         INTEGER NOT NULL,
    due_ms             INTEGER,
    complete_ms        INTEGER,
    succeeded          INTEGER NOT NULL DEFAULT 0,
    failed             INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, environment, product_id, request_identifier)
);
CREATE INDEX IF NOT EXISTS commerce_mass_due ON commerce_mass_extensions (due_ms)
    WHERE due_ms IS NOT NULL;

-- Small keyed records: single-extension idempotency, consumption information received, etc.
CREATE TABLE IF NOT EXISTS commerce_records (
    kind       TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
);
