//! The calendar day of subscription prices: in which time zone a `startDate` (`YYYY-MM-DD`)
//! begins, and which day it is "today" for App Store Connect's price rules.
//!
//! Apple does not document the zone (apple-semantics.md §5, §9.3). Forum post 13 shows two
//! clocks: an hour before midnight (US time) a change starting tomorrow is still listed as a
//! future change in App Store Connect, while the API already refuses to delete it ("Only future
//! price changes can be deleted.") and still refuses a new change ("Must delete future price
//! change before creating a new price change."). crabapple reproduces it with Apple's calendar
//! day in **Pacific time** (a price takes effect at 00:00 in that zone, and a change is "future"
//! while its day has not begun there) and the delete check comparing the start date with the
//! **UTC** day. The zone is the meta setting [`TIME_ZONE_KEY`] (`crabapple serve
//! --price-time-zone`), default [`DEFAULT_TIME_ZONE`].

use anyhow::Result;
use crabapple_store::Tx;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use std::sync::Mutex;

/// Meta key: an IANA zone name (or a POSIX TZ rule) for subscription price days.
pub const TIME_ZONE_KEY: &str = "pricing.timeZone";
/// App Store Connect's zone for price change dates (forum post 13).
pub const DEFAULT_TIME_ZONE: &str = "America/Los_Angeles";

/// A named zone: the system's time zone database, else (for the default) the US Pacific rule,
/// else a POSIX TZ rule such as `EST5EDT,M3.2.0,M11.1.0`.
pub fn zone(name: &str) -> Result<TimeZone, String> {
    if let Ok(tz) = TimeZone::get(name) {
        return Ok(tz);
    }
    if name == DEFAULT_TIME_ZONE {
        // Machines without a time zone database: the US Pacific rule compiled in.
        return Ok(crabapple_store::clock::pacific().clone());
    }
    TimeZone::posix(name).map_err(|_| {
        format!(
            "unknown time zone {name:?}: give an IANA name (America/Los_Angeles) or a POSIX TZ rule"
        )
    })
}

/// The zone price days are counted in, with its name.
#[derive(Debug, Clone)]
pub struct PriceZone {
    pub name: String,
    pub tz: TimeZone,
}

static LAST: Mutex<Option<PriceZone>> = Mutex::new(None);

impl PriceZone {
    /// The configured zone (meta [`TIME_ZONE_KEY`], default Pacific time); an unusable setting
    /// falls back to the default.
    pub async fn of(tx: &mut Tx) -> Result<PriceZone> {
        let name = tx
            .meta_get(TIME_ZONE_KEY)
            .await?
            .unwrap_or_else(|| DEFAULT_TIME_ZONE.into());
        if let Some(z) = LAST.lock().expect("zone cache").as_ref()
            && z.name == name
        {
            return Ok(z.clone());
        }
        let z = match zone(&name) {
            Ok(tz) => PriceZone { name, tz },
            Err(e) => {
                tracing::warn!("{TIME_ZONE_KEY}: {e}; using {DEFAULT_TIME_ZONE}");
                PriceZone {
                    name: DEFAULT_TIME_ZONE.into(),
                    tz: zone(DEFAULT_TIME_ZONE).expect("the US Pacific rule parses"),
                }
            }
        };
        *LAST.lock().expect("zone cache") = Some(z.clone());
        Ok(z)
    }

    /// `YYYY-MM-DD` of a virtual time in this zone.
    pub fn day(&self, at_ms: i64) -> String {
        day_in(at_ms, &self.tz)
    }

    /// Local wall time `YYYY-MM-DD HH:MM` (for reasons given to people).
    pub fn wall(&self, at_ms: i64) -> String {
        Timestamp::from_millisecond(at_ms)
            .map(|t| {
                t.to_zoned_datetime(self.tz.clone())
                    .strftime("%F %H:%M")
                    .to_string()
            })
            .unwrap_or_default()
    }

    /// The instant a `YYYY-MM-DD` day begins in this zone.
    pub fn day_start_ms(&self, day: &str) -> Option<i64> {
        let d: Date = day.parse().ok()?;
        let z = d.to_zoned_datetime(self.tz.clone()).ok()?;
        Some(z.timestamp().as_millisecond())
    }
}

/// `YYYY-MM-DD` of a virtual time in `tz`.
pub fn day_in(at_ms: i64, tz: &TimeZone) -> String {
    Timestamp::from_millisecond(at_ms)
        .map(|t| t.to_zoned_datetime(tz.clone()).date().to_string())
        .unwrap_or_default()
}

/// `YYYY-MM-DD` of a virtual time in UTC (the day Apple's delete check compares with).
pub fn utc_day(at_ms: i64) -> String {
    day_in(at_ms, &TimeZone::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacific_rule_matches_the_tz_database() {
        let rule = crabapple_store::clock::pacific().clone();
        // 2026-12-08T06:59Z is 22:59 on the 7th (PST, UTC-8); 2026-07-01T06:59Z is 23:59 (PDT).
        assert_eq!(day_in(1_796_713_140_000, &rule), "2026-12-07");
        assert_eq!(utc_day(1_796_713_140_000), "2026-12-08");
        assert_eq!(day_in(1_782_889_140_000, &rule), "2026-06-30");
        assert!(zone("Not/AZone").is_err());
        assert!(zone("EST5EDT,M3.2.0,M11.1.0").is_ok());
    }
}
