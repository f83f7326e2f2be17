//! `crabapple-storekit` owns crabapple's emulation of Apple's **App Store Server API**
//! (`/inApps/v1/...`, `/inApps/v2/...`), the **signed data** it hands out
//! (`signedTransactionInfo`, `signedRenewalInfo`, `signedAppTransactionInfo`: ES256 JWS
//! with an `x5c` certificate chain) and **App Store Server Notifications V2**
//! (`{"signedPayload": "<JWS>"}` POSTed to the app's notification URL).
//!
//! Modules:
//! - [`commerce`]: the commerce ledger's rules — events (purchase, renew, refund, …) that write
//!   transactions, renewal state and Apple's notifications into the store's outbox in one SQL
//!   transaction; the clock-driven scheduler ([`run_due`]); durable notification delivery with
//!   Apple's retry schedule.
//! - [`http`]: the App Store Server API (`/inApps/v1`, `/inApps/v2`, also under `/sandbox`) and
//!   the commerce admin API (`/crabapple/admin/commerce/…`), mounted by the server through
//!   [`Host`]; every refusal is an [`http::Refusal`] with one conversion into Apple's error body.
//! - [`ledger`]: the commerce ledger's persistence — customers, transactions, renewal state, the
//!   notification outbox (claimed `FOR UPDATE SKIP LOCKED` on PostgreSQL), records — on the
//!   store's generic pools and transactions; [`messaging_store`]: the Retention Messaging API's.
//! - [`pki`]: crabapple's own three-level certificate authority per data directory
//!   (root → "WWDR-like" intermediate → receipt-signing leaf, with Apple's marker OIDs),
//!   or an external one such as Apple's published test PKI, and the JWS signer.
//! - [`models`]: serde types for Apple's decoded payloads, request and response bodies,
//!   wire enums and the `{errorCode, errorMessage}` error body ([`models::ApiError`]).
//! - [`verify`]: a Rust port of the checks Apple's `SignedDataVerifier` performs
//!   (chain to a configured root, marker OIDs, ES256 signature, environment / bundle id),
//!   used by crabapple's own tests.
//!
//! Clients verify crabapple's signed data by configuring crabapple's root certificate
//! ([`pki::Pki::root_der`]) as the trusted root in Apple's libraries, exactly as Apple's
//! own test suites configure `testCA.der`.

pub mod commerce;
pub mod http;
pub mod ledger;
pub mod messaging_store;
pub mod models;
pub mod pki;
pub mod png;
pub mod retention;
pub mod verify;

pub use commerce::{Commerce, Env, RunSummary, Settings, reset, run_due};
pub use http::{Host, router};
pub use pki::Pki;
