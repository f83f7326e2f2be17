//! The reports family: `GET /v1/salesReports` and `GET /v1/financeReports` served from this
//! crate, added to the jsonapi engine as a [`Family`] (registered with the App Store Connect
//! families). Order of Apple's answers: the query parser's 400s, the 406 for an Accept other
//! than `application/a-gzip`, the vendor number, the catalogue, the report date (format, future),
//! availability (404 not yet, 410 past retention), then the file or the 404 "no sales", through
//! the report files cache ([`crate::cache`]) once the period is closed.
//! Roles (403, individual keys) are checked before, by crabapple-auth (apple-semantics.md §1.7).

use crate::cache;
use crate::catalogue::{self, Body};
use crate::countries;
use crate::finance::{self, FinanceReport};
use crate::fiscal;
use crate::pacific;
use crate::period::{ReportPeriod, at_8_pacific};
use crate::sales;
use crate::subscription;
use crate::transport::file_reply;
use crabapple_jsonapi::{AscError, BoxFut, Engine, Family, Reply, Request, query};
use crabapple_spec::Operation;

pub struct Reports;

const SALES_PATH: &str = "/v1/salesReports";
const FINANCE_PATH: &str = "/v1/financeReports";

impl Family for Reports {
    fn name(&self) -> &'static str {
        "reports"
    }

    fn handles(&self, op: &Operation) -> bool {
        op.path == SALES_PATH || op.path == FINANCE_PATH
    }

    fn handle<'a>(
        &'a self,
        engine: &'a Engine,
        op: &'a Operation,
        req: &'a Request,
    ) -> Option<BoxFut<'a, Result<Reply, AscError>>> {
        Some(Box::pin(serve(engine, op, req)))
    }
}

/// 404 "There were no sales for the date specified." (reports-formats.md §2.5; Finance periods
/// not yet issued or without earnings too, apple-semantics.md §4).
pub fn no_sales() -> AscError {
    AscError::new(
        404,
        "NOT_FOUND",
        "The specified resource does not exist",
        "There were no sales for the date specified.",
    )
}

/// 404 "Report is not available yet." (reports-formats.md §2.5 [CAP]).
pub fn not_available_yet() -> AscError {
    AscError::new(
        404,
        "NOT_FOUND",
        "The specified resource does not exist",
        "Report is not available yet.",
    )
}

/// 410 past retention: apple-semantics.md §3 quotes the detail "Report is no longer available."
/// from collectors; the code and title are crabapple's guess (Apple documents 410 without one).
pub fn no_longer_available() -> AscError {
    AscError::new(
        410,
        "GONE",
        "The requested resource is no longer available",
        "Report is no longer available.",
    )
}

/// The team's name (the files' Developer and Vendor Name), read only when a file is computed.
async fn team_name(store: &crabapple_store::Store) -> anyhow::Result<String> {
    Ok(store.meta_get("team.name").await?.unwrap_or_default())
}

fn invalid_date(detail: String, why: &str) -> AscError {
    AscError::parameter_invalid("filter[reportDate]", detail).reason(why.to_string())
}

async fn serve(engine: &Engine, op: &Operation, req: &Request) -> Result<Reply, AscError> {
    let q = query::parse(op, &req.query)?;
    let get = |name: &str| {
        q.filters
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.first())
            .map(String::as_str)
    };
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
    let store = &engine.store;
    let vendor = store
        .meta_get("team.vendorNumber")
        .await?
        .unwrap_or_default();
    // apple-semantics.md §3: a wrong vendor number is 400 PARAMETER_ERROR.INVALID (wording ours).
    if let Some(v) = get("vendorNumber")
        && v != vendor
    {
        return Err(AscError::parameter_invalid(
            "filter[vendorNumber]",
            format!("'{v}' is not a valid vendor number for this account"),
        ));
    }
    let now = store.clock.now_ms();
    let rtype = get("reportType").unwrap_or_default();
    if op.path == FINANCE_PATH {
        return finance_file(
            engine,
            rtype,
            get("regionCode"),
            get("reportDate"),
            &vendor,
            now,
        )
        .await;
    }
    let sub = get("reportSubType").unwrap_or_default();
    let freq = get("frequency").unwrap_or_default();
    let latest = store
        .meta_get(&catalogue::latest_version_key(rtype))
        .await?;
    let r = catalogue::resolve(rtype, sub, freq, get("version"), latest.as_deref())?;
    let period = match get("reportDate") {
        Some(s) => ReportPeriod::parse(r.frequency, s).ok_or_else(|| {
            invalid_date(
                format!(
                    "The report date '{s}' is not valid for {} reports. Expected the format {}.",
                    r.frequency.name(),
                    r.frequency.format()
                ),
                "reports-formats.md §2.3: DAILY/WEEKLY YYYY-MM-DD, MONTHLY YYYY-MM, YEARLY YYYY",
            )
        })?,
        // §2.3 [CAP]: subscription types 404 without a date; the others serve the latest.
        None if matches!(r.report.body, Body::Subscription(_)) => return Err(no_sales()),
        None => ReportPeriod::latest(r.frequency, now),
    };
    if period.is_future(now) {
        return Err(invalid_date(
            format!(
                "The report date '{}' is in the future.",
                get("reportDate").unwrap_or_default()
            ),
            "a report of a day that has not begun (Pacific time) cannot exist",
        ));
    }
    if now < period.available_ms() {
        return Err(not_available_yet().reason(format!(
            "this report appears at 08:00 Pacific on {} (reports-formats.md §2.3)",
            period.available_day()
        )));
    }
    if now >= period.expires_ms() {
        return Err(no_longer_available()
            .reason("Apple keeps daily, weekly and monthly reports 1 year, yearly 10 (reports-formats.md §2.3)"));
    }
    // A closed period: computed once, then served from the report files cache.
    let key = cache::sales_key(
        &vendor,
        r.report.report_type,
        sub,
        r.frequency.name(),
        r.version,
        period.first,
    );
    cache::serve(store, &key, period.bounds_ms().1, async {
        let text = match r.report.body {
            Body::Sales => sales::render(store, &period, &team_name(store).await?).await?,
            Body::PreOrder | Body::Nothing => None,
            Body::Subscription(s) => {
                subscription::render(store, s, r.version, period.first).await?
            }
        };
        match text {
            Some(t) => Ok(file_reply(
                &r.report.file_name(&vendor, &period, r.version),
                Some(r.version),
                &t,
            )),
            None => Err(no_sales()),
        }
    })
    .await
}

/// Regions accepted per report type, for the 400's "Expected one of".
fn expected_regions(report: FinanceReport) -> String {
    match report {
        FinanceReport::FinanceDetail => "Z1".into(),
        FinanceReport::Financial => {
            let mut v: Vec<&str> = vec!["ZZ", "EU", "LL", "AP", "WW"];
            let mut countries: Vec<&str> = countries::COUNTRIES
                .iter()
                .filter(|c| c.region == c.alpha2)
                .map(|c| c.alpha2)
                .collect();
            countries.sort();
            v.extend(countries);
            v.join(", ")
        }
    }
}

/// The checks of a Finance request, before any file is read: the region for the report type,
/// the `reportDate` (fiscal year and period) and whether the period is issued at `now_ms`.
/// Returns the report, its period and the region of the file.
pub fn finance_request(
    rtype: &str,
    region: &str,
    date: &str,
    now_ms: i64,
) -> Result<(FinanceReport, fiscal::Period, &'static str), AscError> {
    let report = if rtype == "FINANCE_DETAIL" {
        FinanceReport::FinanceDetail
    } else {
        FinanceReport::Financial
    };
    // apple-semantics.md §4: Z1 is FINANCE_DETAIL's only region, ZZ is FINANCIAL's all-regions
    // file; forum post 16 shows FINANCE_DETAIL answered for ZZ too, so ZZ is accepted there.
    let file_region = match report {
        FinanceReport::FinanceDetail if region == "Z1" || region == "ZZ" => Some("Z1"),
        FinanceReport::Financial if region == "ZZ" => Some("ZZ"),
        FinanceReport::Financial => countries::region_currency(region).and_then(|_| {
            ["EU", "LL", "AP", "WW"]
                .into_iter()
                .chain(countries::COUNTRIES.iter().map(|c| c.alpha2))
                .find(|r| *r == region)
        }),
        FinanceReport::FinanceDetail => None,
    };
    let Some(file_region) = file_region else {
        let expected = expected_regions(report);
        return Err(AscError::parameter_invalid(
            "filter[regionCode]",
            format!("The region code '{region}' is not valid for the report type '{rtype}'. Expected one of: {expected}"),
        )
        .reason("apple-semantics.md §4: ZZ is FINANCIAL only, Z1 FINANCE_DETAIL only, regional and per-country codes FINANCIAL"));
    };
    let Some(period) = fiscal::parse_report_date(date) else {
        return Err(invalid_date(
            format!(
                "The report date '{date}' is not valid. Expected the fiscal year and period in the format YYYY-MM."
            ),
            "apple-semantics.md §4: reportDate is the fiscal year and the period number 01–12 (forum post 16)",
        ));
    };
    // §3.6 (choice): a period is issued at 08:00 Pacific on the first Friday of the next one;
    // before that — current, future or closed-but-unsettled — Apple answers "no sales" (§4).
    if now_ms < at_8_pacific(period.issued_on()) {
        return Err(no_sales().reason(format!(
            "fiscal period {} is issued on {} (reports-formats.md §3.6)",
            period.report_date(),
            period.issued_on()
        )));
    }
    Ok((report, period, file_region))
}

async fn finance_file(
    engine: &Engine,
    rtype: &str,
    region: Option<&str>,
    date: Option<&str>,
    vendor: &str,
    now: i64,
) -> Result<Reply, AscError> {
    let (report, period, region) = finance_request(
        rtype,
        region.unwrap_or_default(),
        date.unwrap_or_default(),
        now,
    )?;
    let store = &engine.store;
    let key = cache::finance_key(
        vendor,
        &format!("{report:?}"),
        region,
        &period.report_date(),
    );
    let end_ms = pacific::day_bounds_ms(period.end).1;
    cache::serve(store, &key, end_ms, async {
        let team = team_name(store).await?;
        match finance::render(store, report, region, &period, &team).await? {
            Some(t) => Ok(file_reply(
                &finance::file_name(vendor, &period, region),
                None,
                &t,
            )),
            None => Err(no_sales().reason("no earnings in this fiscal period and region")),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    /// Forum post 16, exactly: on March 3rd (2025), FINANCE_DETAIL for region ZZ and reportDate
    /// `2025-05` → 404; `2024-04` → a file (fiscal January 2024, which starts on December 31, 2023
    /// — "I get December"). What the poster wanted, fiscal January 2025, is `2025-04`, issued
    /// since Friday February 7.
    #[test]
    fn forum_post_16_in_march_2025_2025_05_is_not_issued_and_2024_04_is_fiscal_january_2024() {
        let march_3 = utc("2025-03-03T18:00:00Z");
        let e = finance_request("FINANCE_DETAIL", "ZZ", "2025-05", march_3).unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str(), e.detail.as_deref()),
            (
                404,
                "NOT_FOUND",
                Some("There were no sales for the date specified.")
            )
        );
        let (report, period, region) =
            finance_request("FINANCE_DETAIL", "ZZ", "2024-04", march_3).unwrap();
        assert_eq!((report, region), (FinanceReport::FinanceDetail, "Z1"));
        assert_eq!(
            (period.start.to_string(), period.end.to_string()),
            ("2023-12-31".to_string(), "2024-02-03".to_string())
        );
        let (_, jan_2025, _) = finance_request("FINANCE_DETAIL", "Z1", "2025-04", march_3).unwrap();
        assert_eq!(jan_2025.start.to_string(), "2024-12-29");
        // 2025-05 (Feb 2 – Mar 1, 2025) is issued Friday March 7, 08:00 Pacific.
        assert!(
            finance_request(
                "FINANCE_DETAIL",
                "Z1",
                "2025-05",
                utc("2025-03-07T15:59:59Z")
            )
            .is_err()
        );
        assert!(
            finance_request(
                "FINANCE_DETAIL",
                "Z1",
                "2025-05",
                utc("2025-03-07T16:00:00Z")
            )
            .is_ok()
        );
    }

    #[test]
    fn s4_regions_per_report_type() {
        let now = utc("2026-12-06T18:00:00Z");
        assert_eq!(
            finance_request("FINANCIAL", "EU", "2026-01", now)
                .unwrap()
                .2,
            "EU"
        );
        assert_eq!(
            finance_request("FINANCIAL", "JP", "2026-01", now)
                .unwrap()
                .2,
            "JP"
        );
        assert_eq!(
            finance_request("FINANCIAL", "ZZ", "2026-01", now)
                .unwrap()
                .2,
            "ZZ"
        );
        for (t, r) in [
            ("FINANCIAL", "Z1"),
            ("FINANCIAL", "DE"),
            ("FINANCIAL", "XX"),
            ("FINANCE_DETAIL", "US"),
        ] {
            let e = finance_request(t, r, "2026-01", now).unwrap_err();
            assert_eq!(
                (e.status, e.source.as_ref().unwrap()["parameter"].as_str()),
                (400, Some("filter[regionCode]")),
                "{t} {r}"
            );
        }
    }
}
