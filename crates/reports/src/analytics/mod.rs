//! Analytics Reports (apple-semantics.md §2, reports-formats.md §4): the catalogue of reports each
//! `analyticsReportRequests` carries, the instances the virtual clock makes of them, their
//! segments (gzip TSV files served by crabapple at an expiring signed URL) and Apple's privacy
//! measures. A sibling of the Sales and Finance family: it adds its rules to the jsonapi engine as
//! [`family::Analytics`] and computes its resources instead of storing them.
//!
//! Ids: a report is `r<N>-<requestId>` (§4.2, N observed for r3, r6, r8, r12, r14, r189; the
//! others are crabapple's, fixed in [`catalogue`]), an instance `<reportId>-<d|w|m><YYYYMMDD of processingDate>`, a
//! segment `<instanceId>-s1`.

pub mod catalogue;
pub mod explain;
pub mod family;
pub mod faults;
pub mod files;
pub mod lifecycle;
pub mod schedule;
pub mod segment;

pub use catalogue::CATALOGUE;
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
    /// A report of the catalogue crabapple does not generate (App Clip Usage, the framework and
    /// performance reports, [`Report::why_not_generated`]): no instances.
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

impl Report {
    pub fn by_n(n: u32) -> Option<&'static Report> {
        CATALOGUE.iter().find(|r| r.n == n)
    }

    /// `r<N>-<requestId>`.
    pub fn id(&self, request: &str) -> String {
        format!("r{}-{request}", self.n)
    }

    /// Why crabapple makes no instances of this report (`None` for a report with files): the
    /// sentence of `explain` and of an empty instance list's `X-Crabapple-Reason`.
    pub fn why_not_generated(&self) -> Option<String> {
        if self.kind != Kind::NotGenerated {
            return None;
        }
        let name = self.name;
        Some(if name.starts_with("App Clip Usage") {
            format!(
                "Apple generates {name} only for an app with an App Clip (reports-formats.md §4.2), and crabapple's apps have none; §4.3 gives no columns for it either, so crabapple makes no instances of it"
            )
        } else {
            let columns = if name == "Home Screen Widget Installs" {
                "§4.3 lists its columns but not their order"
            } else {
                "its columns were never published (reports-formats.md §4.3)"
            };
            format!(
                "{name} ({}) measures the use of a system framework or service; Apple generates such a report only for an app that uses it (crabapple's reading, the most plausible one of Apple's pages), crabapple's apps record no such use and {columns}, so it has no instances",
                self.category
            )
        })
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

    #[test]
    fn s4_2_the_whole_catalogue_has_unique_ids_and_names_and_every_category() {
        assert_eq!(CATALOGUE.len(), 133);
        let mut ns: Vec<u32> = CATALOGUE.iter().map(|r| r.n).collect();
        ns.sort();
        ns.dedup();
        assert_eq!(ns.len(), CATALOGUE.len());
        let mut names: Vec<&str> = CATALOGUE.iter().map(|r| r.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len());
        let count = |c: &str| CATALOGUE.iter().filter(|r| r.category == c).count();
        assert_eq!(
            CATEGORIES.iter().map(|c| count(c)).collect::<Vec<_>>(),
            [10, 4, 10, 92, 17],
            "APP_USAGE, APP_STORE_ENGAGEMENT, COMMERCE, FRAMEWORK_USAGE, PERFORMANCE"
        );
        let not_generated = CATALOGUE
            .iter()
            .filter(|r| r.kind == Kind::NotGenerated)
            .count();
        assert_eq!(
            not_generated, 111,
            "109 framework and performance, 2 App Clip"
        );
        assert!(
            CATALOGUE
                .iter()
                .all(|r| (r.kind == Kind::NotGenerated) == r.granularities.is_empty())
        );
    }
}
