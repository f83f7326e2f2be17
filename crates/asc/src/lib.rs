//! The App Store Connect families: Apple's rules for groups of resources, added to the generic
//! engine as [`Family`] hooks (ids in Apple's formats, uniqueness, states, defaults, the
//! operations no generic CRUD can answer), and the world a store starts with (demo or seed file).

// Apple's error document is returned by value on purpose: errors are the cold path.
#![allow(clippy::result_large_err)]

pub mod ids;
pub mod rules;
pub mod world;

use crabapple_jsonapi::Family;
use std::sync::Arc;

/// Every family, in the order their hooks run (provisioning profiles signed by a PKI made for
/// this process).
pub fn families() -> Vec<Arc<dyn Family>> {
    families_signing_with(None)
}

/// Every family, provisioning profiles signed by `profile_signer` (the data directory's PKI).
pub fn families_signing_with(
    profile_signer: Option<Arc<crabapple_storekit::pki::Pki>>,
) -> Vec<Arc<dyn Family>> {
    vec![
        Arc::new(ids::AppleIds),
        Arc::new(rules::defaults::Defaults),
        Arc::new(rules::testflight::TestFlight),
        // Build processing, expiry and beta app review on the virtual clock.
        Arc::new(rules::builds::Builds),
        Arc::new(rules::singletons::Singletons),
        Arc::new(rules::provisioning::Provisioning::new(profile_signer)),
        Arc::new(rules::users::Users),
        Arc::new(rules::analytics::Analytics),
        // Sales and Trends, Finance: the reports room (crates/reports).
        Arc::new(crabapple_reports::Reports),
        // Analytics Reports' reports, instances and segments (crates/reports/src/analytics).
        Arc::new(crabapple_reports::analytics::family::Analytics),
        Arc::new(rules::catalog::Catalog),
        Arc::new(rules::pricing::Pricing),
        // Committed uploads: parts checked, images stored, bundles opened into builds.
        Arc::new(rules::assets::Assets),
        // Versions, review submissions, releases and their history (issue 11).
        Arc::new(rules::review::Review),
        // Last: completes what the others left unset with Apple's initial values.
        Arc::new(rules::initial::Initial),
    ]
}
