//! Sales and Trends periods on the virtual clock (reports-formats.md §2.3): the `reportDate`
//! format of each frequency, the days a report covers, when it becomes available (08:00 Pacific:
//! daily the next day, weekly the Monday after its Monday–Sunday week, monthly 5 days after the
//! month ends, yearly 6 days after the year ends) and how long Apple keeps it (1 year, yearly 10).

use crate::pacific;
use jiff::ToSpan;
use jiff::civil::{Date, Time};

/// Apple's `frequency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frequency {
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

impl Frequency {
    pub fn parse(s: &str) -> Option<Frequency> {
        Some(match s {
            "DAILY" => Frequency::Daily,
            "WEEKLY" => Frequency::Weekly,
            "MONTHLY" => Frequency::Monthly,
            "YEARLY" => Frequency::Yearly,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Frequency::Daily => "DAILY",
            Frequency::Weekly => "WEEKLY",
            Frequency::Monthly => "MONTHLY",
            Frequency::Yearly => "YEARLY",
        }
    }

    /// The letter of the file names (`S_D_…`, `S_W_…`, reports-formats.md §2.2).
    pub fn letter(self) -> &'static str {
        &self.name()[..1]
    }

    /// The `reportDate` format the live endpoint requires (reports-formats.md §2.3).
    pub fn format(self) -> &'static str {
        match self {
            Frequency::Daily | Frequency::Weekly => "YYYY-MM-DD",
            Frequency::Monthly => "YYYY-MM",
            Frequency::Yearly => "YYYY",
        }
    }
}

/// The days one report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportPeriod {
    pub frequency: Frequency,
    pub first: Date,
    pub last: Date,
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl ReportPeriod {
    /// The period of `frequency` that contains `day` (weeks run Monday–Sunday, §2.3).
    pub fn containing(frequency: Frequency, day: Date) -> ReportPeriod {
        let (first, last) = match frequency {
            Frequency::Daily => (day, day),
            Frequency::Weekly => {
                let monday = day - i64::from(day.weekday().to_monday_zero_offset()).days();
                (monday, monday + 6.days())
            }
            Frequency::Monthly => (day.first_of_month(), day.last_of_month()),
            Frequency::Yearly => (day.first_of_year(), day.last_of_year()),
        };
        ReportPeriod {
            frequency,
            first,
            last,
        }
    }

    /// Parses `reportDate` in the frequency's format (§2.3): `None` for any other shape. A weekly
    /// date may be any day of the week (crabapple's reading; the file names the week's Sunday).
    pub fn parse(frequency: Frequency, s: &str) -> Option<ReportPeriod> {
        let parts: Vec<&str> = s.split('-').collect();
        let ok = match frequency {
            Frequency::Daily | Frequency::Weekly => {
                parts.len() == 3
                    && parts[0].len() == 4
                    && parts[1].len() == 2
                    && parts[2].len() == 2
            }
            Frequency::Monthly => parts.len() == 2 && parts[0].len() == 4 && parts[1].len() == 2,
            Frequency::Yearly => parts.len() == 1 && parts[0].len() == 4,
        };
        if !ok || !parts.iter().all(|p| digits(p)) {
            return None;
        }
        let n = |i: usize| parts.get(i).map_or(Some(1), |p| p.parse::<i8>().ok());
        let day = Date::new(parts[0].parse().ok()?, n(1)?, n(2)?).ok()?;
        Some(ReportPeriod::containing(frequency, day))
    }

    /// The date in the file name: the day, the week's Sunday, `YYYYMM`, `YYYY` (§2.2).
    pub fn name_date(&self) -> String {
        match self.frequency {
            Frequency::Daily | Frequency::Weekly => self.last.strftime("%Y%m%d").to_string(),
            Frequency::Monthly => self.first.strftime("%Y%m").to_string(),
            Frequency::Yearly => self.first.strftime("%Y").to_string(),
        }
    }

    /// The day the report appears: the next day, the Monday after the week, 5 days after the
    /// month, 6 days after the year (§2.3).
    pub fn available_day(&self) -> Date {
        let after = match self.frequency {
            Frequency::Daily | Frequency::Weekly => 1,
            Frequency::Monthly => 5,
            Frequency::Yearly => 6,
        };
        self.last + after.days()
    }

    /// When the report appears: 08:00 Pacific on [`Self::available_day`] ("generally available by
    /// 8 a.m. Pacific Time", §2.3).
    pub fn available_ms(&self) -> i64 {
        at_8_pacific(self.available_day())
    }

    /// When Apple stops serving it: 1 year after availability, 10 for yearly reports (§2.3).
    pub fn expires_ms(&self) -> i64 {
        let years = if self.frequency == Frequency::Yearly {
            10
        } else {
            1
        };
        at_8_pacific(self.available_day() + years.years())
    }

    /// Whether the period starts after today (Pacific) — a date in the future.
    pub fn is_future(&self, now_ms: i64) -> bool {
        self.first > pacific::day_of_ms(now_ms)
    }

    /// The most recent period of `frequency` available at `now_ms` (an omitted `reportDate`).
    pub fn latest(frequency: Frequency, now_ms: i64) -> ReportPeriod {
        let mut p = ReportPeriod::containing(frequency, pacific::day_of_ms(now_ms));
        while p.available_ms() > now_ms {
            p = ReportPeriod::containing(frequency, p.first.yesterday().expect("a valid date"));
        }
        p
    }

    /// `[start, end)` epoch milliseconds of the period's Pacific days.
    pub fn bounds_ms(&self) -> (i64, i64) {
        (
            pacific::day_bounds_ms(self.first).0,
            pacific::day_bounds_ms(self.last).1,
        )
    }
}

/// 08:00 Pacific on `day`, in epoch milliseconds.
pub fn at_8_pacific(day: Date) -> i64 {
    pacific::zone()
        .to_timestamp(day.to_datetime(Time::constant(8, 0, 0, 0)))
        .expect("a day within jiff's range")
        .as_millisecond()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn utc(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn s2_3_report_dates_have_one_format_per_frequency() {
        let d = ReportPeriod::parse(Frequency::Daily, "2026-11-03").unwrap();
        assert_eq!((d.first, d.last), (date(2026, 11, 3), date(2026, 11, 3)));
        let m = ReportPeriod::parse(Frequency::Monthly, "2026-02").unwrap();
        assert_eq!((m.first, m.last), (date(2026, 2, 1), date(2026, 2, 28)));
        let y = ReportPeriod::parse(Frequency::Yearly, "2025").unwrap();
        assert_eq!((y.first, y.last), (date(2025, 1, 1), date(2025, 12, 31)));
        for (f, bad) in [
            (Frequency::Daily, "2026-11"),
            (Frequency::Daily, "2026-11-3"),
            (Frequency::Daily, "2026-02-30"),
            (Frequency::Daily, "20261103"),
            (Frequency::Weekly, "2026"),
            (Frequency::Monthly, "2026-11-01"),
            (Frequency::Monthly, "2026-13"),
            (Frequency::Yearly, "2026-01"),
            (Frequency::Yearly, "26"),
            (Frequency::Yearly, "+2026"),
        ] {
            assert_eq!(ReportPeriod::parse(f, bad), None, "{f:?} {bad}");
        }
    }

    #[test]
    fn s2_2_weeks_run_monday_to_sunday_and_are_named_after_the_sunday() {
        // §2.2's example S_W_80012345_20130915: September 15, 2013 was a Sunday.
        let w = ReportPeriod::parse(Frequency::Weekly, "2013-09-11").unwrap();
        assert_eq!((w.first, w.last), (date(2013, 9, 9), date(2013, 9, 15)));
        assert_eq!(w.name_date(), "20130915");
        assert_eq!(
            ReportPeriod::parse(Frequency::Weekly, "2013-09-15").unwrap(),
            w
        );
        assert_eq!(
            ReportPeriod::parse(Frequency::Daily, "2013-09-19")
                .unwrap()
                .name_date(),
            "20130919"
        );
        assert_eq!(
            ReportPeriod::parse(Frequency::Monthly, "2013-09")
                .unwrap()
                .name_date(),
            "201309"
        );
        assert_eq!(
            ReportPeriod::parse(Frequency::Yearly, "2013")
                .unwrap()
                .name_date(),
            "2013"
        );
    }

    #[test]
    fn s2_3_availability_at_8_pacific_after_each_period() {
        let d = ReportPeriod::parse(Frequency::Daily, "2026-12-01").unwrap();
        assert_eq!(d.available_ms(), utc("2026-12-02T16:00:00Z"));
        let w = ReportPeriod::parse(Frequency::Weekly, "2026-12-01").unwrap();
        assert_eq!(
            w.available_ms(),
            utc("2026-12-07T16:00:00Z"),
            "the Monday after"
        );
        let m = ReportPeriod::parse(Frequency::Monthly, "2026-06").unwrap();
        assert_eq!(
            m.available_ms(),
            utc("2026-07-05T15:00:00Z"),
            "5 days after, PDT"
        );
        let y = ReportPeriod::parse(Frequency::Yearly, "2025").unwrap();
        assert_eq!(y.available_ms(), utc("2026-01-06T16:00:00Z"));
        assert_eq!(d.expires_ms(), utc("2027-12-02T16:00:00Z"));
        assert_eq!(y.expires_ms(), utc("2036-01-06T16:00:00Z"));
    }

    #[test]
    fn s2_3_an_omitted_date_is_the_latest_available_period() {
        // 07:59 Pacific on December 6: yesterday's report is not out yet.
        let before = utc("2026-12-06T15:59:00Z");
        assert_eq!(
            ReportPeriod::latest(Frequency::Daily, before).first,
            date(2026, 12, 4)
        );
        let after = utc("2026-12-06T16:00:00Z");
        assert_eq!(
            ReportPeriod::latest(Frequency::Daily, after).first,
            date(2026, 12, 5)
        );
        assert_eq!(
            ReportPeriod::latest(Frequency::Weekly, after).last,
            date(2026, 11, 29)
        );
        assert_eq!(
            ReportPeriod::latest(Frequency::Monthly, after).first,
            date(2026, 11, 1)
        );
        assert_eq!(
            ReportPeriod::latest(Frequency::Yearly, after).first,
            date(2025, 1, 1)
        );
        assert!(
            ReportPeriod::parse(Frequency::Daily, "2026-12-07")
                .unwrap()
                .is_future(after)
        );
        assert!(
            !ReportPeriod::parse(Frequency::Daily, "2026-12-06")
                .unwrap()
                .is_future(after)
        );
    }
}
