//! Apple's fiscal calendar, computed (reports-formats.md §3.5; apple-semantics.md §4): weeks run
//! Sunday–Saturday, the fiscal year ends on the last Saturday of September, each quarter has
//! 5-4-4 weeks, and a 53-week year gives its extra week to the third period ("December",
//! `nicolasgomollon/AppSales-Mobile`'s AppleFiscalCalendar). Finance's `reportDate` `YYYY-MM` is
//! the fiscal year and the period number (October = 01, forum post 16, Ponytech issue #63).

use jiff::ToSpan;
use jiff::civil::{Date, Weekday};

/// One fiscal period: `year`-`period` (1–12), its first and last day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub year: i16,
    pub period: i8,
    pub start: Date,
    pub end: Date,
}

/// The last Saturday of September of `year`: the last day of fiscal year `year`.
fn year_end(year: i16) -> Date {
    let sep30 = Date::new(year, 9, 30).expect("a valid date");
    let back = (sep30.weekday().to_sunday_zero_offset() + 1) % 7;
    sep30 - (back as i64).days()
}

/// The first day of fiscal year `year` (a Sunday).
fn year_start(year: i16) -> Date {
    year_end(year - 1).tomorrow().expect("a valid date")
}

/// Weeks of each period of fiscal year `year` (52 or 53 weeks).
fn weeks(year: i16) -> [i64; 12] {
    let days = year_end(year)
        .since(year_start(year))
        .expect("dates in range")
        .get_days()
        + 1;
    let mut w = [5, 4, 4, 5, 4, 4, 5, 4, 4, 5, 4, 4];
    if days == 53 * 7 {
        w[2] = 5;
    }
    w
}

impl Period {
    /// Period `period` (1–12) of fiscal year `year`.
    pub fn of(year: i16, period: i8) -> Option<Period> {
        if !(1..=12).contains(&period) || !(1901..=9998).contains(&year) {
            return None;
        }
        let w = weeks(year);
        let before: i64 = w[..(period - 1) as usize].iter().sum();
        let start = year_start(year) + (before * 7).days();
        let end = start + (w[(period - 1) as usize] * 7 - 1).days();
        Some(Period {
            year,
            period,
            start,
            end,
        })
    }

    /// The fiscal period `day` falls in.
    pub fn containing(day: Date) -> Period {
        let mut year = day.year();
        if day > year_end(year) {
            year += 1;
        }
        (1..=12)
            .filter_map(|p| Period::of(year, p))
            .find(|p| p.start <= day && day <= p.end)
            .expect("every day is in a period")
    }

    /// The period after this one.
    pub fn next(&self) -> Period {
        Period::containing(self.end.tomorrow().expect("a valid date"))
    }

    /// Finance's `reportDate` for this period (`2025-05`).
    pub fn report_date(&self) -> String {
        format!("{:04}-{:02}", self.year, self.period)
    }

    /// The first Friday of the next period: the day Finance reports of this period are issued
    /// (reports-formats.md §3.6, "by the first Friday of the fiscal month"; that it holds for apps
    /// is open question 13).
    pub fn issued_on(&self) -> Date {
        let mut d = self.next().start;
        while d.weekday() != Weekday::Friday {
            d = d.tomorrow().expect("a valid date");
        }
        d
    }
}

/// Parses Finance's `reportDate` `YYYY-MM` (fiscal year, period 01–12).
pub fn parse_report_date(s: &str) -> Option<Period> {
    let (y, m) = s.split_once('-')?;
    if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    Period::of(y.parse().ok()?, m.parse().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// reports-formats.md §3.5's table, FY2024–FY2028, byte for byte (`MM-DD..MM-DD`, the year
    /// written where it changes as in the table).
    const TABLE: &str = "\
| P01 Oct (5w) | 2023-10-01..11-04 | 2024-09-29..11-02 | 2025-09-28..11-01 | 2026-09-27..10-31 | 2027-09-26..10-30 |
| P02 Nov (4w) | 11-05..12-02 | 11-03..11-30 | 11-02..11-29 | 11-01..11-28 | 10-31..11-27 |
| P03 Dec (4w; 5w in 53-wk yr) | 12-03..12-30 | 12-01..12-28 | 11-30..12-27 | 11-29..12-26 | 11-28..2028-01-01 |
| P04 Jan (5w) | 12-31..2024-02-03 | 12-29..2025-02-01 | 12-28..2026-01-31 | 12-27..2027-01-30 | 01-02..02-05 |
| P05 Feb (4w) | 02-04..03-02 | 02-02..03-01 | 02-01..02-28 | 01-31..02-27 | 02-06..03-04 |
| P06 Mar (4w) | 03-03..03-30 | 03-02..03-29 | 03-01..03-28 | 02-28..03-27 | 03-05..04-01 |
| P07 Apr (5w) | 03-31..05-04 | 03-30..05-03 | 03-29..05-02 | 03-28..05-01 | 04-02..05-06 |
| P08 May (4w) | 05-05..06-01 | 05-04..05-31 | 05-03..05-30 | 05-02..05-29 | 05-07..06-03 |
| P09 Jun (4w) | 06-02..06-29 | 06-01..06-28 | 05-31..06-27 | 05-30..06-26 | 06-04..07-01 |
| P10 Jul (5w) | 06-30..08-03 | 06-29..08-02 | 06-28..08-01 | 06-27..07-31 | 07-02..08-05 |
| P11 Aug (4w) | 08-04..08-31 | 08-03..08-30 | 08-02..08-29 | 08-01..08-28 | 08-06..09-02 |
| P12 Sep (4w) | 09-01..09-28 | 08-31..09-27 | 08-30..09-26 | 08-29..09-25 | 09-03..09-30 |
";

    /// Writes a table cell as §3.5 does: the full date when its year differs from the year of
    /// the cell above (`prev`), else `MM-DD`.
    fn cell(p: &Period, prev: Option<&Period>) -> String {
        let f = |d: Date, y: i16| {
            if d.year() == y {
                d.strftime("%m-%d").to_string()
            } else {
                d.to_string()
            }
        };
        let y0 = prev.map(|q| q.end.year()).unwrap_or(0);
        let start = f(p.start, y0);
        let end = f(p.end, p.start.year());
        format!("{start}..{end}")
    }

    #[test]
    fn s3_5_every_fy2024_to_fy2028_period_boundary_matches_the_table_byte_for_byte() {
        let labels = [
            "P01 Oct (5w)",
            "P02 Nov (4w)",
            "P03 Dec (4w; 5w in 53-wk yr)",
            "P04 Jan (5w)",
            "P05 Feb (4w)",
            "P06 Mar (4w)",
            "P07 Apr (5w)",
            "P08 May (4w)",
            "P09 Jun (4w)",
            "P10 Jul (5w)",
            "P11 Aug (4w)",
            "P12 Sep (4w)",
        ];
        let mut out = String::new();
        for (i, label) in labels.iter().enumerate() {
            out.push_str(&format!("| {label} |"));
            for fy in 2024..=2028 {
                let p = Period::of(fy, i as i8 + 1).unwrap();
                let prev = (i > 0).then(|| Period::of(fy, i as i8).unwrap());
                out.push_str(&format!(" {} |", cell(&p, prev.as_ref())));
            }
            out.push('\n');
        }
        assert_eq!(out, TABLE);
    }

    #[test]
    fn s3_5_fiscal_2028_has_53_weeks_and_years_join_without_gaps() {
        for fy in 2020..=2035 {
            let last = Period::of(fy, 12).unwrap();
            assert_eq!(last.end.weekday(), Weekday::Saturday);
            assert_eq!(
                Period::of(fy + 1, 1).unwrap().start,
                last.end.tomorrow().unwrap()
            );
        }
        let p3 = Period::of(2028, 3).unwrap();
        assert_eq!(p3.end.since(p3.start).unwrap().get_days(), 34);
        assert_eq!(
            Period::containing(jiff::civil::date(2026, 12, 6)).report_date(),
            "2027-03"
        );
    }

    #[test]
    fn s3_1_report_dates_are_fiscal_year_and_period_number() {
        let p = parse_report_date("2026-12").unwrap();
        assert_eq!(
            (p.start.to_string(), p.end.to_string()),
            ("2026-08-30".into(), "2026-09-26".into())
        );
        assert_eq!(
            parse_report_date("2024-05").unwrap().start.to_string(),
            "2024-02-04"
        );
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-01",
            "2026/01",
            "2026-01-01",
            "",
        ] {
            assert_eq!(parse_report_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn s3_6_a_period_is_issued_on_the_first_friday_of_the_next() {
        // FY2025 P05 (Feb 2 – Mar 1, 2025) is issued Friday March 7, 2025.
        assert_eq!(
            parse_report_date("2025-05").unwrap().issued_on(),
            jiff::civil::date(2025, 3, 7)
        );
    }
}
