//! Analytics Reports (apple-semantics.md §2, reports-formats.md §4): the catalogue of reports each
//! `analyticsReportRequests` carries, the instances the virtual clock makes of them, their
//! segments (gzip TSV files served by crabapple at an expiring signed URL) and Apple's privacy
//! measures. A sibling of the Sales and Finance family: it adds its rules to the jsonapi engine as
//! [`family::Analytics`] and computes its resources instead of storing them.
//!
//! Ids: a report is `r<N>-<requestId>` (§4.2, N observed for r3, r6, r8, r12, r14, r189; the
//! others are crabapple's), an instance `<reportId>-<d|w|m><YYYYMMDD of processingDate>`, a
//! segment `<instanceId>-s1`.

pub mod explain;
pub mod family;
pub mod faults;
pub mod files;
pub mod lifecycle;
pub mod schedule;
pub mod segment;

use jiff::civil::{Date, date};
use schedule::Granularity;

/// Apple's `AnalyticsReport.attributes.category` (apple-semantics.md §2.2).
pub const CATEGORIES: &[&str] = &[
    "APP_USAGE",
    "APP_STORE_ENGAGEMENT",
    "COMMERCE",
    "FRAMEWORK_USAGE",
    "PERFORMANCE",
];

/// What a report's file is made of (files/ renders each; §4.3 gives their columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Downloads,
    Purchases,
    PreOrders,
    DiscoveryAndEngagement,
    WebPreviewEngagement,
    Sessions,
    InstallationAndDeletion,
    OptIn,
    Crashes,
    CrashesExpanded,
    InstallPerformance,
    SubscriptionState,
    SubscriptionEvent,
    /// A report of the catalogue crabapple does not generate (App Clip Usage): no instances.
    NotGenerated,
}

const DAILY: &[Granularity] = &[Granularity::Daily];
const EVERY: &[Granularity] = &Granularity::ALL;

impl Kind {
    /// reports-formats.md §4.4: the granularities of a report of this kind at a level and the
    /// first Date it has data for.
    pub const fn availability(self, detailed: bool) -> (&'static [Granularity], Date) {
        use Kind::*;
        match self {
            NotGenerated => (&[], date(2024, 1, 1)),
            // Weekly and monthly in Detailed only.
            Downloads | PreOrders if !detailed => (DAILY, date(2024, 1, 1)),
            Downloads | PreOrders => (EVERY, date(2024, 1, 1)),
            Purchases
            | DiscoveryAndEngagement
            | WebPreviewEngagement
            | Sessions
            | InstallationAndDeletion
            | Crashes => (EVERY, date(2024, 1, 1)),
            OptIn => (DAILY, date(2024, 1, 1)),
            InstallPerformance => (DAILY, date(2024, 3, 1)),
            SubscriptionState => (DAILY, date(2025, 1, 1)),
            SubscriptionEvent if !detailed => (DAILY, date(2025, 1, 1)),
            SubscriptionEvent => (EVERY, date(2025, 1, 1)),
            // "iOS 17.4": its release day, 2024-03-05 (crabapple's reading).
            CrashesExpanded => (DAILY, date(2024, 3, 5)),
        }
    }
}

/// One report of the catalogue (reports-formats.md §4.2), with its availability (§4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub n: u32,
    pub name: &'static str,
    pub category: &'static str,
    pub detailed: bool,
    pub kind: Kind,
    /// DAILY, WEEKLY, MONTHLY instances as §4.4 lists them for the report and level.
    pub granularities: &'static [Granularity],
    /// The first Date the report has data for (§4.4 "History from").
    pub history_start: Date,
}

const fn r(
    n: u32,
    name: &'static str,
    category: &'static str,
    detailed: bool,
    kind: Kind,
) -> Report {
    let (granularities, history_start) = kind.availability(detailed);
    Report {
        n,
        name,
        category,
        detailed,
        kind,
        granularities,
        history_start,
    }
}

use Kind::*;

/// The 12 rows of reports-formats.md §4.2, Standard and Detailed, by N, and the two subscription
/// reports of §4.3 (their API names were never seen, §4.2: crabapple names them like the others,
/// `App Store Subscription State|Event Standard|Detailed`, ids r25–r28, a guess). "App Store Web
/// Preview Engagement Detailed" is not listed (its name was never seen); the ~80 framework
/// reports are left out (README "Analytics Reports").
pub const CATALOGUE: &[Report] = &[
    r(3, "App Downloads Standard", "COMMERCE", false, Downloads),
    r(4, "App Downloads Detailed", "COMMERCE", true, Downloads),
    r(
        6,
        "App Store Installation and Deletion Standard",
        "APP_USAGE",
        false,
        InstallationAndDeletion,
    ),
    r(
        7,
        "App Store Installation and Deletion Detailed",
        "APP_USAGE",
        true,
        InstallationAndDeletion,
    ),
    r(8, "App Sessions Standard", "APP_USAGE", false, Sessions),
    r(9, "App Sessions Detailed", "APP_USAGE", true, Sessions),
    r(
        10,
        "App Store Pre-Orders Standard",
        "COMMERCE",
        false,
        PreOrders,
    ),
    r(
        11,
        "App Store Pre-Orders Detailed",
        "COMMERCE",
        true,
        PreOrders,
    ),
    r(
        12,
        "App Store Purchases Standard",
        "COMMERCE",
        false,
        Purchases,
    ),
    r(
        13,
        "App Store Purchases Detailed",
        "COMMERCE",
        true,
        Purchases,
    ),
    r(
        14,
        "App Store Discovery and Engagement Standard",
        "APP_STORE_ENGAGEMENT",
        false,
        DiscoveryAndEngagement,
    ),
    r(
        15,
        "App Store Discovery and Engagement Detailed",
        "APP_STORE_ENGAGEMENT",
        true,
        DiscoveryAndEngagement,
    ),
    r(
        16,
        "App Store Web Preview Engagement Standard",
        "APP_STORE_ENGAGEMENT",
        false,
        WebPreviewEngagement,
    ),
    r(
        20,
        "App Clip Usage Standard",
        "APP_USAGE",
        false,
        NotGenerated,
    ),
    r(
        21,
        "App Clip Usage Detailed",
        "APP_USAGE",
        true,
        NotGenerated,
    ),
    r(22, "App Crashes", "APP_USAGE", false, Crashes),
    r(
        23,
        "App Crashes Expanded",
        "PERFORMANCE",
        false,
        CrashesExpanded,
    ),
    r(
        24,
        "App Install Performance",
        "PERFORMANCE",
        false,
        InstallPerformance,
    ),
    r(
        25,
        "App Store Subscription State Standard",
        "COMMERCE",
        false,
        SubscriptionState,
    ),
    r(
        26,
        "App Store Subscription State Detailed",
        "COMMERCE",
        true,
        SubscriptionState,
    ),
    r(
        27,
        "App Store Subscription Event Standard",
        "COMMERCE",
        false,
        SubscriptionEvent,
    ),
    r(
        28,
        "App Store Subscription Event Detailed",
        "COMMERCE",
        true,
        SubscriptionEvent,
    ),
    r(189, "App Opt In", "APP_USAGE", false, OptIn),
];

impl Report {
    pub fn by_n(n: u32) -> Option<&'static Report> {
        CATALOGUE.iter().find(|r| r.n == n)
    }

    /// `r<N>-<requestId>`.
    pub fn id(&self, request: &str) -> String {
        format!("r{}-{request}", self.n)
    }

    /// The report and request an id names (the request is not checked here).
    pub fn parse_id(id: &str) -> Option<(&'static Report, &str)> {
        let (n, request) = id.strip_prefix('r')?.split_once('-')?;
        Some((Report::by_n(n.parse().ok()?)?, request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s4_2_ids_of_the_observed_reports() {
        for (n, name) in [
            (3, "App Downloads Standard"),
            (6, "App Store Installation and Deletion Standard"),
            (8, "App Sessions Standard"),
            (12, "App Store Purchases Standard"),
            (14, "App Store Discovery and Engagement Standard"),
            (189, "App Opt In"),
        ] {
            assert_eq!(Report::by_n(n).unwrap().name, name);
        }
        let (r, req) = Report::parse_id("r12-d48c69c5-9bcb-4592-abbd-08a9411b0231").unwrap();
        assert_eq!((r.n, req), (12, "d48c69c5-9bcb-4592-abbd-08a9411b0231"));
        assert!(Report::parse_id("r5-x").is_none());
        assert!(CATALOGUE.iter().all(|r| CATEGORIES.contains(&r.category)));
    }
}
