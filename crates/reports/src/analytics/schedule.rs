//! When analytics report instances exist (reports-formats.md §4.4, apple-semantics.md §2.3), on
//! the virtual clock, in Pacific days ([`crate::pacific`]):
//!
//! - Delay: a request made on Pacific day R gets its first processing date R+2 at 00:00 Pacific,
//!   so nothing appears for the first 24–48 h ("Your first report request generates in 1–2
//!   days"). crabapple's choice: the delay is counted in Pacific days, not hours.
//! - DAILY: one instance per processing date P, holding the Dates P-2 (complete) and P-1 (the
//!   "partial" day of §4.4's data-completeness table), so consecutive instances overlap by a day.
//! - WEEKLY: every Friday, holding the previous Monday–Sunday (Date = the Monday); MONTHLY: on the
//!   5th, holding the previous month (Date = the 1st). Downloads have them in Detailed only (§4.4).
//! - ONGOING: every processing date from R+2 on. ONE_TIME_SNAPSHOT: delivered once on R+2 with
//!   every instance an ONGOING request would have made from the report's history start (2024-01-01,
//!   bounded by the app's first day of data) to R+2, nothing after.
//! - Retention: an instance vanishes 35 days after its processing date (a snapshot's: 35 days
//!   after its delivery, so the backfill can be read).
//!
//! The inactivity stop and injected faults hide some of these instances: [`super::lifecycle`].

use super::Report;
use jiff::ToSpan;
use jiff::civil::{Date, Weekday, date};

/// Days from the request's Pacific day to its first processing date.
pub const FIRST_DELAY_DAYS: i64 = 2;
/// Days an instance is kept (apple-semantics.md §2.3).
pub const RETENTION_DAYS: i64 = 35;
/// History start of Downloads and Purchases (§4.4).
pub const HISTORY_START: Date = date(2024, 1, 1);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Granularity {
    Daily,
    Weekly,
    Monthly,
}

impl Granularity {
    pub const ALL: [Granularity; 3] = [
        Granularity::Daily,
        Granularity::Weekly,
        Granularity::Monthly,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Granularity::Daily => "DAILY",
            Granularity::Weekly => "WEEKLY",
            Granularity::Monthly => "MONTHLY",
        }
    }

    fn code(self) -> char {
        match self {
            Granularity::Daily => 'd',
            Granularity::Weekly => 'w',
            Granularity::Monthly => 'm',
        }
    }

    /// Whether `p` is a processing date of this granularity.
    pub fn processes_on(self, p: Date) -> bool {
        match self {
            Granularity::Daily => true,
            Granularity::Weekly => p.weekday() == Weekday::Friday,
            Granularity::Monthly => p.day() == 5,
        }
    }

    /// The granularities a report has (§4.4: Downloads weekly and monthly Detailed only).
    pub fn of(report: &Report) -> Vec<Granularity> {
        report.granularities.to_vec()
    }
}

/// One instance: a report's file for a processing date and granularity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub report: &'static Report,
    pub request: String,
    pub granularity: Granularity,
    pub processing_date: Date,
}

impl Instance {
    pub fn id(&self) -> String {
        format!(
            "{}-{}{}",
            self.report.id(&self.request),
            self.granularity.code(),
            self.processing_date.strftime("%Y%m%d")
        )
    }

    pub fn parse_id(id: &str) -> Option<Instance> {
        let (report_id, code) = id.rsplit_once('-')?;
        let (report, request) = Report::parse_id(report_id)?;
        let mut chars = code.chars();
        let c = chars.next()?;
        let granularity = Granularity::ALL.into_iter().find(|g| g.code() == c)?;
        let rest = chars.as_str();
        if rest.len() != 8 {
            return None;
        }
        let processing_date = Date::strptime("%Y%m%d", rest).ok()?;
        Some(Instance {
            report,
            request: request.to_string(),
            granularity,
            processing_date,
        })
    }

    /// The Dates (first, last) the file holds.
    pub fn dates(&self) -> (Date, Date) {
        let p = self.processing_date;
        match self.granularity {
            Granularity::Daily => (p - 2.days(), p - 1.days()),
            Granularity::Weekly => {
                let sunday = p - 5.days();
                (sunday - 6.days(), sunday)
            }
            Granularity::Monthly => {
                let last = p.first_of_month() - 1.days();
                (last.first_of_month(), last)
            }
        }
    }
}

/// What a request is, for the schedule.
#[derive(Debug, Clone)]
pub struct RequestFacts {
    pub id: String,
    pub snapshot: bool,
    /// The Pacific day the request was made.
    pub day: Date,
    /// The app's first day of data, if any (bounds a snapshot's backfill).
    pub first_data_day: Option<Date>,
}

/// The instances of `report` for the request that exist on Pacific day `today`, by processing
/// date then granularity.
pub fn instances(report: &'static Report, req: &RequestFacts, today: Date) -> Vec<Instance> {
    let grans = Granularity::of(report);
    let first = req.day + FIRST_DELAY_DAYS.days();
    if grans.is_empty() || today < first {
        return vec![];
    }
    let (from, to) = if req.snapshot {
        let Some(data) = req.first_data_day else {
            return vec![];
        };
        if today >= first + RETENTION_DAYS.days() {
            return vec![];
        }
        (data.max(report.history_start) + 1.days(), first)
    } else {
        (first.max(today - (RETENTION_DAYS - 1).days()), today)
    };
    let mut out = Vec::new();
    let mut p = from;
    while p <= to {
        for g in &grans {
            if g.processes_on(p) {
                let i = Instance {
                    report,
                    request: req.id.clone(),
                    granularity: *g,
                    processing_date: p,
                };
                // A snapshot holds only windows that reach its history.
                if !req.snapshot || req.first_data_day.is_some_and(|d| i.dates().1 >= d) {
                    out.push(i);
                }
            }
        }
        p = p.tomorrow().expect("a day within jiff's range");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn downloads(detailed: bool) -> &'static Report {
        Report::by_n(if detailed { 4 } else { 3 }).unwrap()
    }

    fn req(snapshot: bool) -> RequestFacts {
        RequestFacts {
            id: "q".into(),
            snapshot,
            day: date(2026, 3, 2),
            first_data_day: Some(date(2026, 1, 20)),
        }
    }

    #[test]
    fn s2_3_nothing_before_the_second_pacific_day_then_one_daily_instance_a_day() {
        let r = req(false);
        assert!(instances(downloads(false), &r, date(2026, 3, 3)).is_empty());
        let on_4 = instances(downloads(false), &r, date(2026, 3, 4));
        assert_eq!(on_4.len(), 1);
        assert_eq!(on_4[0].dates(), (date(2026, 3, 2), date(2026, 3, 3)));
        assert_eq!(instances(downloads(false), &r, date(2026, 3, 10)).len(), 7);
    }

    #[test]
    fn s4_4_weekly_on_fridays_monthly_on_the_5th_downloads_detailed_only() {
        let r = req(false);
        let d = instances(downloads(true), &r, date(2026, 4, 6));
        let weekly: Vec<_> = d
            .iter()
            .filter(|i| i.granularity == Granularity::Weekly)
            .collect();
        assert_eq!(weekly[0].processing_date, date(2026, 3, 6));
        assert_eq!(weekly[0].dates(), (date(2026, 2, 23), date(2026, 3, 1)));
        let monthly: Vec<_> = d
            .iter()
            .filter(|i| i.granularity == Granularity::Monthly)
            .collect();
        assert_eq!(monthly.len(), 2);
        assert_eq!(monthly[0].dates(), (date(2026, 2, 1), date(2026, 2, 28)));
        assert_eq!(monthly[1].dates(), (date(2026, 3, 1), date(2026, 3, 31)));
        assert!(
            instances(downloads(false), &r, date(2026, 4, 6))
                .iter()
                .all(|i| i.granularity == Granularity::Daily)
        );
        let id = monthly[1].id();
        assert_eq!(id, "r4-q-m20260405");
        assert_eq!(Instance::parse_id(&id).as_ref(), Some(monthly[1]));
    }

    #[test]
    fn s2_3_instances_older_than_35_days_vanish() {
        let d = instances(downloads(false), &req(false), date(2026, 6, 1));
        assert_eq!(d.len(), 35);
        assert_eq!(d[0].processing_date, date(2026, 4, 28));
    }

    #[test]
    fn s2_2_snapshot_backfills_from_the_first_data_day_and_makes_nothing_new() {
        let r = req(true);
        assert!(instances(downloads(false), &r, date(2026, 3, 3)).is_empty());
        let d = instances(downloads(false), &r, date(2026, 3, 4));
        assert_eq!(d.first().unwrap().dates().1, date(2026, 1, 20));
        assert_eq!(d.last().unwrap().processing_date, date(2026, 3, 4));
        assert_eq!(instances(downloads(false), &r, date(2026, 3, 20)), d);
        assert!(instances(downloads(false), &r, date(2026, 4, 8)).is_empty());
        let none = RequestFacts {
            first_data_day: None,
            ..r
        };
        assert!(instances(downloads(false), &none, date(2026, 3, 4)).is_empty());
    }
}
