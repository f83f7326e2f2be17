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

/// Apple's `AnalyticsReport.attributes.category` (apple-semantics.md §2.2).
pub const CATEGORIES: &[&str] = &[
    "APP_USAGE",
    "APP_STORE_ENGAGEMENT",
    "COMMERCE",
    "FRAMEWORK_USAGE",
    "PERFORMANCE",
];

/// What a report's file is made of (only Downloads and Purchases have instances in this slice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Downloads,
    Purchases,
    /// A report of the catalogue crabapple does not generate yet: no instances.
    NotGenerated,
}

/// One report of the catalogue (reports-formats.md §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub n: u32,
    pub name: &'static str,
    pub category: &'static str,
    pub detailed: bool,
    pub kind: Kind,
}

const fn r(
    n: u32,
    name: &'static str,
    category: &'static str,
    detailed: bool,
    kind: Kind,
) -> Report {
    Report {
        n,
        name,
        category,
        detailed,
        kind,
    }
}

use Kind::{Downloads, NotGenerated, Purchases};

/// The 12 rows of reports-formats.md §4.2, Standard and Detailed, by N. "App Store Web Preview
/// Engagement Detailed" is not listed (its name was never seen); the ~80 framework reports are
/// left out (README "Analytics Reports").
pub const CATALOGUE: &[Report] = &[
    r(3, "App Downloads Standard", "COMMERCE", false, Downloads),
    r(4, "App Downloads Detailed", "COMMERCE", true, Downloads),
    r(
        6,
        "App Store Installation and Deletion Standard",
        "APP_USAGE",
        false,
        NotGenerated,
    ),
    r(
        7,
        "App Store Installation and Deletion Detailed",
        "APP_USAGE",
        true,
        NotGenerated,
    ),
    r(8, "App Sessions Standard", "APP_USAGE", false, NotGenerated),
    r(9, "App Sessions Detailed", "APP_USAGE", true, NotGenerated),
    r(
        10,
        "App Store Pre-Orders Standard",
        "COMMERCE",
        false,
        NotGenerated,
    ),
    r(
        11,
        "App Store Pre-Orders Detailed",
        "COMMERCE",
        true,
        NotGenerated,
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
        NotGenerated,
    ),
    r(
        15,
        "App Store Discovery and Engagement Detailed",
        "APP_STORE_ENGAGEMENT",
        true,
        NotGenerated,
    ),
    r(
        16,
        "App Store Web Preview Engagement Standard",
        "APP_STORE_ENGAGEMENT",
        false,
        NotGenerated,
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
    r(22, "App Crashes", "APP_USAGE", false, NotGenerated),
    r(
        23,
        "App Crashes Expanded",
        "PERFORMANCE",
        false,
        NotGenerated,
    ),
    r(
        24,
        "App Install Performance",
        "PERFORMANCE",
        false,
        NotGenerated,
    ),
    r(189, "App Opt In", "APP_USAGE", false, NotGenerated),
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
