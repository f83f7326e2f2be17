//! Reporting days on the virtual clock: Apple's reporting day is the Pacific calendar day
//! (reports-formats.md §2.3); a simulated day runs from its Pacific midnight to the next.

use jiff::civil::Date;
use jiff::tz::TimeZone;

fn pacific() -> TimeZone {
    TimeZone::get("America/Los_Angeles").unwrap_or_else(|_| TimeZone::fixed(jiff::tz::offset(-8)))
}

/// The Pacific day of a virtual time (ms).
pub fn pacific_day(ms: i64) -> Date {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(pacific())
        .date()
}

/// The virtual time (ms) of a Pacific day's midnight.
pub fn day_start_ms(day: Date) -> i64 {
    day.to_zoned_datetime(pacific())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(0)
}

/// The first day that starts at or after `now_ms`.
pub fn first_day_from(now_ms: i64) -> Date {
    let d = pacific_day(now_ms);
    if day_start_ms(d) >= now_ms {
        d
    } else {
        d.tomorrow().expect("a day after")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn pacific_days_follow_daylight_saving_time() {
        // 2026-07-01 00:00 PDT = 07:00 UTC; 2026-12-01 00:00 PST = 08:00 UTC.
        assert_eq!(day_start_ms(date(2026, 7, 1)), 1_782_889_200_000);
        assert_eq!(day_start_ms(date(2026, 12, 1)), 1_796_112_000_000);
        assert_eq!(pacific_day(1_796_112_000_000 - 1), date(2026, 11, 30));
        assert_eq!(first_day_from(1_796_112_000_000), date(2026, 12, 1));
        assert_eq!(first_day_from(1_796_112_000_001), date(2026, 12, 2));
        // The day DST ends has 25 hours.
        let (a, b) = (date(2026, 11, 1), date(2026, 11, 2));
        assert_eq!(day_start_ms(b) - day_start_ms(a), 25 * 3_600_000);
    }
}
