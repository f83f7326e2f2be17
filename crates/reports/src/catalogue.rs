//! The report catalogue: every Sales and Trends `reportType` / `reportSubType` / `frequency` /
//! `version` Apple accepts (apple-semantics.md §3 table, reports-formats.md §2.1), which body each
//! one has in crabapple, its file name (§2.2) and the 400s for everything else. One table, one row
//! per report, as the place to look first.
//!
//! Versions are listed oldest first; the last is the latest unless the store's `meta` setting
//! `reports.latestVersion.<REPORT_TYPE>` names an older one of the list (then the newer ones are
//! refused as Apple refused 1_4 before it served it). Subscription reports: 1_3 in Apple's table,
//! 1_4 required by some accounts live since 2026 (§2.1); 1_2 is no longer downloadable.

use crate::period::{Frequency, ReportPeriod};
use crate::subscription::SubscriptionReport;
use crabapple_jsonapi::AscError;

/// What crabapple writes in a report's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// Summary Sales (§2.4), from the app units and the ledger.
    Sales,
    /// Pre-Order Summary: the demo world has no pre-orders, so it is always header-only, which
    /// Apple answers with 404 "no sales".
    PreOrder,
    /// Rendered by [`crate::subscription::render`].
    Subscription(SubscriptionReport),
    /// Reports whose rows crabapple does not produce (Newsstand, Installs, First Annual: the
    /// demo world has no newsstand apps and no EU alternative distribution) — always "no sales".
    Nothing,
}

#[derive(Debug)]
pub struct SalesReport {
    pub report_type: &'static str,
    pub sub_types: &'static [&'static str],
    pub frequencies: &'static [Frequency],
    /// Accepted versions, oldest first; the last is the default latest.
    pub versions: &'static [&'static str],
    /// Whether `filter[version]` must be given (§3 [DEV, 2026]: subscription types).
    pub version_required: bool,
    /// File name before `_<vendor>_<date>`; `{F}` is the frequency letter (§2.2; names §2.2 does
    /// not list are crabapple's guesses, open question in §2.2).
    pub name: &'static str,
    pub body: Body,
}

use Frequency::{Daily as D, Monthly as M, Weekly as W, Yearly as Y};

const DWMY: &[Frequency] = &[D, W, M, Y];

/// Apple's table ("If you use other types, it results in an error").
pub const SALES_REPORTS: &[SalesReport] = &[
    row(
        "SALES",
        &["SUMMARY"],
        DWMY,
        &["1_0"],
        false,
        "S_{F}",
        Body::Sales,
    ),
    row(
        "PRE_ORDER",
        &["SUMMARY"],
        DWMY,
        &["1_0"],
        false,
        "P_S_{F}",
        Body::PreOrder,
    ),
    row(
        "NEWSSTAND",
        &["DETAILED"],
        &[D, W],
        &["1_0"],
        false,
        "N_D_{F}",
        Body::Nothing,
    ),
    row(
        "SUBSCRIPTION",
        &["SUMMARY"],
        &[D],
        &["1_3", "1_4"],
        true,
        "Subscription",
        Body::Subscription(SubscriptionReport::Subscription),
    ),
    row(
        "SUBSCRIPTION_EVENT",
        &["SUMMARY"],
        &[D],
        &["1_3", "1_4"],
        true,
        "Subscription_Event",
        Body::Subscription(SubscriptionReport::SubscriptionEvent),
    ),
    row(
        "SUBSCRIBER",
        &["DETAILED"],
        &[D],
        &["1_3", "1_4"],
        true,
        "Subscriber",
        Body::Subscription(SubscriptionReport::Subscriber),
    ),
    row(
        "SUBSCRIPTION_OFFER_CODE_REDEMPTION",
        &["SUMMARY"],
        &[D],
        &["1_0"],
        false,
        "Subscription_Offer_Code_Redemption",
        Body::Subscription(SubscriptionReport::SubscriptionOfferCodeRedemption),
    ),
    row(
        "WIN_BACK_ELIGIBILITY",
        &["SUMMARY"],
        &[D],
        &["1_0"],
        false,
        "Winback_Eligibility_Report",
        Body::Subscription(SubscriptionReport::WinBackEligibility),
    ),
    row(
        "INSTALLS",
        &[
            "SUMMARY_CHANNEL",
            "SUMMARY_INSTALL_TYPE",
            "SUMMARY_TERRITORY",
        ],
        &[Y],
        &["1_0", "1_1"],
        false,
        "Installs_{F}",
        Body::Nothing,
    ),
    row(
        "INSTALLS",
        &["SUMMARY", "DETAILED"],
        &[M],
        &["1_2"],
        false,
        "Installs_{F}",
        Body::Nothing,
    ),
    row(
        "INSTALLS",
        &["DETAILED"],
        &[Y],
        &["1_0", "1_1"],
        false,
        "Installs_{F}",
        Body::Nothing,
    ),
    row(
        "FIRST_ANNUAL",
        &["DETAILED"],
        &[D],
        &["1_0"],
        false,
        "First_Annual_{F}",
        Body::Nothing,
    ),
    row(
        "FIRST_ANNUAL",
        &["SUMMARY"],
        &[Y],
        &["1_0"],
        false,
        "First_Annual_{F}",
        Body::Nothing,
    ),
];

const fn row(
    report_type: &'static str,
    sub_types: &'static [&'static str],
    frequencies: &'static [Frequency],
    versions: &'static [&'static str],
    version_required: bool,
    name: &'static str,
    body: Body,
) -> SalesReport {
    SalesReport {
        report_type,
        sub_types,
        frequencies,
        versions,
        version_required,
        name,
        body,
    }
}

/// The `meta` key that makes an older version of `report_type` the latest.
pub fn latest_version_key(report_type: &str) -> String {
    format!("reports.latestVersion.{report_type}")
}

/// A request's report, resolved against the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Resolved {
    pub report: &'static SalesReport,
    pub frequency: Frequency,
    /// The version served (the request's, or the latest when omitted).
    pub version: &'static str,
}

impl SalesReport {
    /// The accepted versions given the `meta` override of the latest (see the module comment).
    fn accepted(&self, latest_override: Option<&str>) -> &'static [&'static str] {
        match latest_override.and_then(|l| self.versions.iter().position(|v| *v == l)) {
            Some(i) => &self.versions[..=i],
            None => self.versions,
        }
    }

    /// `S_D_85012345_20261205_V1_0.txt.gz` (§1.1: UI name + `_V<version>` + `.txt.gz`).
    pub fn file_name(&self, vendor: &str, period: &ReportPeriod, version: &str) -> String {
        let prefix = self.name.replace("{F}", period.frequency.letter());
        format!("{prefix}_{vendor}_{}_V{version}.txt.gz", period.name_date())
    }
}

fn join(mut v: Vec<&str>) -> String {
    v.dedup();
    v.join(", ")
}

/// Finds the catalogue row of a request, or Apple's 400 `PARAMETER_ERROR.INVALID` naming the
/// first parameter outside the table: the sub type, the frequency, then the version (whose
/// detail is Apple's captured text, reports-formats.md §2.5; the sub type and frequency wording
/// is crabapple's). `latest_override` is the `meta` setting of the report type.
pub fn resolve(
    rtype: &str,
    sub: &str,
    freq: &str,
    version: Option<&str>,
    latest_override: Option<&str>,
) -> Result<Resolved, AscError> {
    let rows: Vec<&SalesReport> = SALES_REPORTS
        .iter()
        .filter(|r| r.report_type == rtype)
        .collect();
    let by_sub: Vec<&&SalesReport> = rows.iter().filter(|r| r.sub_types.contains(&sub)).collect();
    if by_sub.is_empty() {
        let expected = join(
            rows.iter()
                .flat_map(|r| r.sub_types.iter().copied())
                .collect(),
        );
        return Err(AscError::parameter_invalid(
            "filter[reportSubType]",
            format!("The report sub type '{sub}' is not valid for the report type '{rtype}'. Expected one of: {expected}"),
        )
        .reason(format!("{rtype} reports come as {expected} (apple-semantics.md §3 table)")));
    }
    let f = Frequency::parse(freq);
    let Some((report, frequency)) = by_sub
        .iter()
        .find_map(|r| f.filter(|f| r.frequencies.contains(f)).map(|f| (**r, f)))
    else {
        let expected = join(
            by_sub
                .iter()
                .flat_map(|r| r.frequencies.iter().map(|f| f.name()))
                .collect(),
        );
        return Err(AscError::parameter_invalid(
            "filter[frequency]",
            format!("The frequency '{freq}' is not valid for the report type '{rtype}' and sub type '{sub}'. Expected one of: {expected}"),
        )
        .reason(format!("{rtype}/{sub} reports come {expected} (apple-semantics.md §3 table)")));
    };
    let accepted = report.accepted(latest_override);
    let latest = accepted.last().copied().unwrap_or("1_0");
    let served = match version {
        Some(v) => accepted.iter().copied().find(|a| *a == v),
        None if report.version_required => None,
        None => Some(latest),
    };
    let Some(version) = served else {
        return Err(AscError::parameter_invalid(
            "filter[version]",
            format!("The version parameter you have specified is invalid. The latest version for this report is {latest}."),
        )
        .reason(format!(
            "{rtype}/{sub} is served in version {} (apple-semantics.md §3; reports-formats.md §2.5; 1_2 of the subscription reports is no longer available)",
            accepted.join(", ")
        )));
    };
    Ok(Resolved {
        report,
        frequency,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(e: AscError) -> (String, String) {
        let b = e.body();
        (
            b["errors"][0]["detail"].as_str().unwrap().to_string(),
            b["errors"][0]["source"]["parameter"]
                .as_str()
                .unwrap()
                .to_string(),
        )
    }

    #[test]
    fn s2_1_every_combination_of_apples_table_resolves_with_its_latest_version() {
        for r in SALES_REPORTS {
            for sub in r.sub_types {
                for f in r.frequencies {
                    let got = resolve(
                        r.report_type,
                        sub,
                        f.name(),
                        r.versions.first().copied(),
                        None,
                    )
                    .unwrap_or_else(|e| panic!("{} {sub} {f:?}: {:?}", r.report_type, e.detail));
                    assert_eq!(got.version, r.versions[0]);
                }
            }
        }
        assert_eq!(
            resolve("SALES", "SUMMARY", "DAILY", None, None)
                .unwrap()
                .version,
            "1_0"
        );
        assert_eq!(
            resolve("SUBSCRIPTION", "SUMMARY", "DAILY", Some("1_3"), None)
                .unwrap()
                .version,
            "1_3"
        );
        assert_eq!(
            resolve("SUBSCRIBER", "DETAILED", "DAILY", Some("1_4"), None)
                .unwrap()
                .version,
            "1_4"
        );
    }

    #[test]
    fn s2_5_retired_wrong_or_missing_versions_name_the_latest() {
        let msg = |v: &str| {
            format!(
                "The version parameter you have specified is invalid. The latest version for this report is {v}."
            )
        };
        for (t, s, v, latest) in [
            ("SUBSCRIPTION", "SUMMARY", Some("1_2"), "1_4"),
            ("SUBSCRIPTION_EVENT", "SUMMARY", None, "1_4"),
            ("SUBSCRIBER", "DETAILED", Some("1_5"), "1_4"),
            ("SALES", "SUMMARY", Some("1_1"), "1_0"),
        ] {
            let e = resolve(t, s, "DAILY", v, None).unwrap_err();
            assert_eq!(
                (e.status, e.code.as_str(), e.title.as_str()),
                (
                    400,
                    "PARAMETER_ERROR.INVALID",
                    "A parameter has an invalid value"
                )
            );
            assert_eq!(
                detail(e),
                (msg(latest), "filter[version]".into()),
                "{t} {v:?}"
            );
        }
    }

    #[test]
    fn s2_1_the_latest_version_is_configurable_per_report() {
        let e = resolve("SUBSCRIPTION", "SUMMARY", "DAILY", Some("1_4"), Some("1_3")).unwrap_err();
        assert_eq!(
            detail(e).0,
            "The version parameter you have specified is invalid. The latest version for this report is 1_3."
        );
        assert_eq!(
            resolve("SUBSCRIPTION", "SUMMARY", "DAILY", Some("1_3"), Some("1_3"))
                .unwrap()
                .version,
            "1_3"
        );
        // An override outside the list is ignored.
        assert_eq!(
            resolve("SALES", "SUMMARY", "DAILY", None, Some("9_9"))
                .unwrap()
                .version,
            "1_0"
        );
    }

    #[test]
    fn s3_other_combinations_are_400_with_source_parameter() {
        assert_eq!(
            detail(resolve("SALES", "DETAILED", "DAILY", None, None).unwrap_err()),
            ("The report sub type 'DETAILED' is not valid for the report type 'SALES'. Expected one of: SUMMARY".into(), "filter[reportSubType]".into())
        );
        assert_eq!(
            detail(resolve("SUBSCRIPTION", "SUMMARY", "WEEKLY", Some("1_4"), None).unwrap_err()),
            ("The frequency 'WEEKLY' is not valid for the report type 'SUBSCRIPTION' and sub type 'SUMMARY'. Expected one of: DAILY".into(), "filter[frequency]".into())
        );
        assert_eq!(
            detail(resolve("INSTALLS", "DETAILED", "DAILY", None, None).unwrap_err()).0,
            "The frequency 'DAILY' is not valid for the report type 'INSTALLS' and sub type 'DETAILED'. Expected one of: MONTHLY, YEARLY"
        );
        // INSTALLS DETAILED is MONTHLY 1_2 or YEARLY 1_0/1_1.
        assert_eq!(
            resolve("INSTALLS", "DETAILED", "MONTHLY", None, None)
                .unwrap()
                .version,
            "1_2"
        );
        assert_eq!(
            resolve("INSTALLS", "DETAILED", "YEARLY", None, None)
                .unwrap()
                .version,
            "1_1"
        );
    }

    #[test]
    fn s2_2_file_names_carry_the_version() {
        let p = ReportPeriod::parse(Frequency::Weekly, "2013-09-15").unwrap();
        assert_eq!(
            SALES_REPORTS[0].file_name("80012345", &p, "1_0"),
            "S_W_80012345_20130915_V1_0.txt.gz"
        );
        let d = ReportPeriod::parse(Frequency::Daily, "2023-03-01").unwrap();
        let r = resolve("SUBSCRIPTION_EVENT", "SUMMARY", "DAILY", Some("1_3"), None).unwrap();
        // §1.1's captured name.
        assert_eq!(
            r.report.file_name("12345678", &d, "1_3"),
            "Subscription_Event_12345678_20230301_V1_3.txt.gz"
        );
        let pre = resolve("PRE_ORDER", "SUMMARY", "DAILY", None, None).unwrap();
        assert_eq!(
            pre.report.file_name(
                "80012345",
                &ReportPeriod::parse(Frequency::Daily, "2013-09-19").unwrap(),
                "1_0"
            ),
            "P_S_D_80012345_20130919_V1_0.txt.gz"
        );
    }
}
