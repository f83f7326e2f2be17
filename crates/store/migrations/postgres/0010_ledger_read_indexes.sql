-- Reads of the ledger that scanned every row as a year of simulated traffic piled up
-- (issue 10: an Analytics Subscription State day took seconds after a year at 10,000 downloads
-- a day; the scheduler's look at held leases took two seconds with 390,000 notifications
-- pending):
-- - each subscription's latest transaction at the end of a day (crates/storekit
--   ledger/reports.rs `report_latest_subscription_transactions`) now reads only the transactions
--   that had not expired before the day's billing-retry window, instead of every one bought
--   before the day;
-- - the leases held on due notifications (`ledger_due_summary`) read only the held ones;
-- - a day's notifications of an environment (the reports' subscription events and the states
--   lapsing subscriptions are in, `report_notifications`, `report_status_notifications`,
--   `report_notified_transactions`) are found by their date instead of a scan of the outbox.
CREATE INDEX IF NOT EXISTS commerce_tx_sub_expiry ON commerce_transactions
    (environment, (COALESCE(expires_ms, purchase_ms))) WHERE product_type = 'AUTO_RENEWABLE';
CREATE INDEX IF NOT EXISTS commerce_notif_leases ON commerce_notifications (lease_until_ms)
    WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS commerce_notif_by_date ON commerce_notifications
    (environment, signed_date_ms);
