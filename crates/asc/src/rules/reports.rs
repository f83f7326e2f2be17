//! Sales and finance report downloads (`GET /v1/salesReports`, `GET /v1/financeReports`): Apple's
//! parameter and Accept rules. Until the reports capability generates files from the ledger, every
//! valid request is answered as Apple answers a period without sales: 404 "There were no sales for
//! the date specified." (apple-semantics.md §3, §4).

use crabapple_jsonapi::{AscError, BoxFut, Engine, Family, Reply, Request, query};
use crabapple_spec::Operation;

pub struct Reports;

impl Family for Reports {
    fn name(&self) -> &'static str {
        "reports"
    }

    fn handles(&self, op: &Operation) -> bool {
        op.path == "/v1/salesReports" || op.path == "/v1/financeReports"
    }

    fn handle<'a>(
        &'a self,
        engine: &'a Engine,
        op: &'a Operation,
        req: &'a Request,
    ) -> Option<BoxFut<'a, Result<Reply, AscError>>> {
        Some(Box::pin(async move {
            let q = query::parse(op, &req.query)?;
            // §3: reports are application/a-gzip; `Accept: application/json` gets 406 (plain text).
            if let Some(a) = &req.accept
                && !a.contains("a-gzip")
                && !a.contains("*/*")
                && !a.is_empty()
            {
                return Err(AscError::new(
                    406,
                    "NOT_ACCEPTABLE",
                    "The requested media type is not acceptable",
                    format!("The Accept header '{a}' is not supported. Use 'application/a-gzip'."),
                ));
            }
            let vendor = engine
                .store
                .meta_get("team.vendorNumber")
                .await?
                .unwrap_or_default();
            if let Some((_, v)) = q.filters.iter().find(|(n, _)| n == "vendorNumber")
                && v.first().map(String::as_str) != Some(vendor.as_str())
            {
                return Err(AscError::parameter_invalid(
                    "filter[vendorNumber]",
                    format!(
                        "'{}' is not a valid vendor number for this account",
                        v.join(",")
                    ),
                ));
            }
            check_sales_combination(op, &q.filters)?;
            Err(AscError::new(
                404,
                "NOT_FOUND",
                "The specified resource does not exist",
                "There were no sales for the date specified.",
            ))
        }))
    }
}

/// Apple's table of allowed Sales and Trends combinations (apple-semantics.md §3, "If you use
/// other types, it results in an error"): `(reportType, reportSubTypes, frequencies, versions)`,
/// versions oldest first, the last one being "the latest version for this report".
/// Subscription types: 1_3 in Apple's table, 1_4 served and required live since 2026
/// (reports-formats.md §2.1); 1_2 is no longer available for download.
type Combination = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);

const SALES_COMBINATIONS: &[Combination] = &[
    ("FIRST_ANNUAL", &["DETAILED"], &["DAILY"], &["1_0"]),
    ("FIRST_ANNUAL", &["SUMMARY"], &["YEARLY"], &["1_0"]),
    (
        "INSTALLS",
        &[
            "SUMMARY_CHANNEL",
            "SUMMARY_INSTALL_TYPE",
            "SUMMARY_TERRITORY",
        ],
        &["YEARLY"],
        &["1_0", "1_1"],
    ),
    ("INSTALLS", &["SUMMARY", "DETAILED"], &["MONTHLY"], &["1_2"]),
    ("INSTALLS", &["DETAILED"], &["YEARLY"], &["1_0", "1_1"]),
    ("NEWSSTAND", &["DETAILED"], &["DAILY", "WEEKLY"], &["1_0"]),
    (
        "PRE_ORDER",
        &["SUMMARY"],
        &["DAILY", "WEEKLY", "MONTHLY", "YEARLY"],
        &["1_0"],
    ),
    (
        "SALES",
        &["SUMMARY"],
        &["DAILY", "WEEKLY", "MONTHLY", "YEARLY"],
        &["1_0"],
    ),
    ("SUBSCRIBER", &["DETAILED"], &["DAILY"], &["1_3", "1_4"]),
    ("SUBSCRIPTION", &["SUMMARY"], &["DAILY"], &["1_3", "1_4"]),
    (
        "SUBSCRIPTION_EVENT",
        &["SUMMARY"],
        &["DAILY"],
        &["1_3", "1_4"],
    ),
    (
        "SUBSCRIPTION_OFFER_CODE_REDEMPTION",
        &["SUMMARY"],
        &["DAILY"],
        &["1_0"],
    ),
    ("WIN_BACK_ELIGIBILITY", &["SUMMARY"], &["DAILY"], &["1_0"]),
];

/// Report types that must name their version (§3 [DEV, 2026]: omitting it is the same 400).
const VERSION_REQUIRED: &[&str] = &["SUBSCRIPTION", "SUBSCRIPTION_EVENT", "SUBSCRIBER"];

/// 400 `PARAMETER_ERROR.INVALID` with `source.parameter` for a combination outside Apple's
/// table: the sub type, then the frequency, then the version (whose detail is Apple's captured
/// text, reports-formats.md §2.5; the sub type and frequency wording is crabapple's).
fn check_sales_combination(
    op: &Operation,
    filters: &[(String, Vec<String>)],
) -> Result<(), AscError> {
    if op.path != "/v1/salesReports" {
        return Ok(());
    }
    let get = |name: &str| {
        filters
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.first())
            .map(String::as_str)
    };
    let (Some(rtype), Some(sub), Some(freq)) =
        (get("reportType"), get("reportSubType"), get("frequency"))
    else {
        return Ok(()); // required parameters are the query parser's 400
    };
    let rows: Vec<_> = SALES_COMBINATIONS.iter().filter(|r| r.0 == rtype).collect();
    let join = |v: Vec<&str>| {
        let mut v = v;
        v.dedup();
        v.join(", ")
    };
    let by_sub: Vec<_> = rows.iter().filter(|r| r.1.contains(&sub)).collect();
    if by_sub.is_empty() {
        let expected = join(rows.iter().flat_map(|r| r.1.iter().copied()).collect());
        return Err(AscError::parameter_invalid(
            "filter[reportSubType]",
            format!("The report sub type '{sub}' is not valid for the report type '{rtype}'. Expected one of: {expected}"),
        )
        .reason(format!("{rtype} reports come as {expected} (apple-semantics.md §3 table)")));
    }
    let Some(row) = by_sub.iter().find(|r| r.2.contains(&freq)) else {
        let expected = join(by_sub.iter().flat_map(|r| r.2.iter().copied()).collect());
        return Err(AscError::parameter_invalid(
            "filter[frequency]",
            format!("The frequency '{freq}' is not valid for the report type '{rtype}' and sub type '{sub}'. Expected one of: {expected}"),
        )
        .reason(format!("{rtype}/{sub} reports come {expected} (apple-semantics.md §3 table)")));
    };
    let latest = row.3.last().copied().unwrap_or("1_0");
    let version = get("version");
    let bad = match version {
        Some(v) => !row.3.contains(&v),
        None => VERSION_REQUIRED.contains(&rtype),
    };
    if bad {
        return Err(AscError::parameter_invalid(
            "filter[version]",
            format!("The version parameter you have specified is invalid. The latest version for this report is {latest}."),
        )
        .reason(format!(
            "{rtype}/{sub} is served in version {} (apple-semantics.md §3; 1_2 of the subscription reports is no longer available)",
            row.3.join(", ")
        )));
    }
    Ok(())
}
