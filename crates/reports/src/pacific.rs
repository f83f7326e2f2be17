//! The Pacific reporting day: Sales and Trends days run 00:00–24:00 America/Los_Angeles
//! (reports-formats.md §2.3, apple-semantics.md §3 "day boundaries are Pacific time"). This module
//! converts between a reporting day and epoch milliseconds.
//!
//! jiff reads IANA zones from the system's tzdb, which a container may lack, so the zone here is
//! the POSIX rule `PST8PDT,M3.2.0,M11.1.0` that jiff compiles in: UTC−8, daylight time UTC−7 from
//! the second Sunday of March 02:00 to the first Sunday of November 02:00 (the US rule since 2007;
//! days before 2007 are not reproduced, the virtual clock never goes there).

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use std::sync::LazyLock;

static PACIFIC: LazyLock<TimeZone> =
    LazyLock::new(|| TimeZone::posix("PST8PDT,M3.2.0,M11.1.0").expect("a valid POSIX time zone"));

/// America/Los_Angeles (US rules since 2007).
pub fn zone() -> &'static TimeZone {
    &PACIFIC
}

fn start_ms(day: Date) -> i64 {
    PACIFIC
        .to_timestamp(day.to_datetime(jiff::civil::Time::midnight()))
        .expect("a day within jiff's range")
        .as_millisecond()
}

/// The reporting day `day` as the half-open range `[start, end)` of epoch milliseconds:
/// Pacific midnight to the next Pacific midnight (23 h on the March change, 25 h in November).
pub fn day_bounds_ms(day: Date) -> (i64, i64) {
    let next = day.tomorrow().expect("a day within jiff's range");
    (start_ms(day), start_ms(next))
}

/// The Pacific reporting day an instant (epoch milliseconds) falls on.
pub fn day_of_ms(ms: i64) -> Date {
    let ts = Timestamp::from_millisecond(ms).expect("epoch ms within jiff's range");
    PACIFIC.to_datetime(ts).date()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    const HOUR: i64 = 3_600_000;

    fn utc_ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn winter_days_start_at_08_utc_summer_days_at_07_utc() {
        assert_eq!(
            day_bounds_ms(date(2026, 1, 15)),
            (
                utc_ms("2026-01-15T08:00:00Z"),
                utc_ms("2026-01-16T08:00:00Z")
            )
        );
        assert_eq!(
            day_bounds_ms(date(2026, 7, 4)),
            (
                utc_ms("2026-07-04T07:00:00Z"),
                utc_ms("2026-07-05T07:00:00Z")
            )
        );
    }

    #[test]
    fn dst_change_days_last_23_and_25_hours() {
        // 2026: DST starts Sunday March 8, ends Sunday November 1.
        let (s, e) = day_bounds_ms(date(2026, 3, 8));
        assert_eq!((s, e - s), (utc_ms("2026-03-08T08:00:00Z"), 23 * HOUR));
        let (s, e) = day_bounds_ms(date(2026, 11, 1));
        assert_eq!((s, e - s), (utc_ms("2026-11-01T07:00:00Z"), 25 * HOUR));
        // The day before each change is a plain 24 h day.
        let (s, e) = day_bounds_ms(date(2026, 3, 7));
        assert_eq!(e - s, 24 * HOUR);
        let (s, e) = day_bounds_ms(date(2024, 3, 10));
        assert_eq!((s, e - s), (utc_ms("2024-03-10T08:00:00Z"), 23 * HOUR));
    }

    #[test]
    fn instants_fall_on_their_pacific_day() {
        assert_eq!(
            day_of_ms(utc_ms("2026-12-06T07:59:59.999Z")),
            date(2026, 12, 5)
        );
        assert_eq!(day_of_ms(utc_ms("2026-12-06T08:00:00Z")), date(2026, 12, 6));
        assert_eq!(day_of_ms(utc_ms("2026-06-01T06:59:59Z")), date(2026, 5, 31));
        assert_eq!(day_of_ms(utc_ms("2026-06-01T07:00:00Z")), date(2026, 6, 1));
        for day in [date(2026, 3, 8), date(2026, 11, 1), date(2027, 2, 28)] {
            let (s, e) = day_bounds_ms(day);
            assert_eq!(
                (day_of_ms(s), day_of_ms(e - 1), day_of_ms(e)),
                (day, day, day.tomorrow().unwrap())
            );
        }
    }
}
