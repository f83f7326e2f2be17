//! Simulated days on the virtual clock: a simulated day is Apple's reporting day, the Pacific
//! calendar day (reports-formats.md §2.3), converted by the reports' [`pacific`] module.

use crabapple_reports::pacific;
use jiff::civil::Date;

pub use pacific::day_of_ms as pacific_day;

/// The virtual time (ms) of a Pacific day's midnight.
pub fn day_start_ms(day: Date) -> i64 {
    pacific::day_bounds_ms(day).0
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
    fn a_run_starts_on_the_first_pacific_midnight_not_yet_passed() {
        // 2026-12-01 00:00 PST = 08:00 UTC.
        let midnight = 1_796_112_000_000;
        assert_eq!(day_start_ms(date(2026, 12, 1)), midnight);
        assert_eq!(first_day_from(midnight), date(2026, 12, 1));
        assert_eq!(first_day_from(midnight + 1), date(2026, 12, 2));
        assert_eq!(first_day_from(midnight - 1), date(2026, 12, 1));
    }
}
