//! App units of one reporting day (Apple's App Downloads dimensions, reports-formats.md §4.3):
//! first-time downloads, redownloads, restores, manual and auto-updates, by territory, device,
//! platform version, app version, source type (App Store search and browse, web and app
//! referrers with their Source Info, campaign links with their names) and page type, from the
//! app's [`Traffic`] and the day's seasonality. Deterministic: the day's own random stream.

use std::collections::BTreeMap;

use crabapple_reports::AppUnitsRow;
use jiff::civil::{Date, Weekday};

use crate::rng::{Rng, cumulative};
use crate::traffic::Traffic;

/// The day's demand relative to an average day: weekday pattern (weekends higher), the
/// December holiday peak (highest on Christmas Day, when new devices are unwrapped), Black
/// Friday week, and the launch boost decaying over about three weeks.
pub fn day_factor(day: Date, launch: Option<Date>) -> f64 {
    let weekday = match day.weekday() {
        Weekday::Monday => 0.92,
        Weekday::Tuesday => 0.90,
        Weekday::Wednesday => 0.93,
        Weekday::Thursday => 0.97,
        Weekday::Friday => 1.05,
        Weekday::Saturday => 1.13,
        Weekday::Sunday => 1.10,
    };
    let december = if day.month() == 12 {
        let d = f64::from(day.day());
        1.0 + 0.8 * (-((d - 25.0) / 4.0).powi(2)).exp() + 0.15
    } else {
        1.0
    };
    let black_friday = if day.month() == 11 && (24..=30).contains(&day.day()) {
        1.2
    } else {
        1.0
    };
    let launch = match launch {
        Some(l) if day >= l => {
            let since = (day - l).get_days() as f64;
            1.0 + 4.0 * (-since / 21.0).exp()
        }
        Some(_) => 0.0, // not launched yet
        None => 1.0,
    };
    weekday * december * black_friday * launch
}

/// What the units of a day count, for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayUnits {
    pub first_time: u64,
    pub redownloads: u64,
    pub updates: u64,
}

const DOWNLOAD_TYPES: &[&str] = &[
    "First-time download",
    "Redownload",
    "Restore",
    "Manual update",
    "Auto-update",
];

/// (device, [(platform version, weight)], weight) per platform.
type Devices = &'static [(&'static str, &'static [(&'static str, u32)], u32)];

fn devices(platform: &str) -> Devices {
    match platform {
        "MAC_OS" => &[(
            "Desktop",
            &[("macOS 26.1", 55), ("macOS 15.7", 35), ("macOS 14.8", 10)],
            1,
        )],
        "TV_OS" => &[("Apple TV", &[("tvOS 26.1", 70), ("tvOS 18.6", 30)], 1)],
        _ => &[
            (
                "iPhone",
                &[
                    ("iOS 26.1", 45),
                    ("iOS 26.0", 15),
                    ("iOS 18.6", 30),
                    ("iOS 17.7", 10),
                ],
                84,
            ),
            ("iPad", &[("iPadOS 26.1", 55), ("iPadOS 18.6", 45)], 16),
        ],
    }
}

/// The version on sale on `day`: the model's last version, its last number raised once per
/// release since the anchor (the launch date, else 2026-01-01); `(version, days since the
/// release)`.
pub fn version_on(t: &Traffic, day: Date) -> (String, i64) {
    let anchor = t.launch_date.unwrap_or(jiff::civil::date(2026, 1, 1));
    let since = (day - anchor).get_days().max(0) as i64;
    let releases = since / t.release_every_days;
    let last = t
        .app_versions
        .last()
        .cloned()
        .unwrap_or_else(|| "1.0".into());
    let version = match last.rsplit_once('.') {
        Some((head, n)) if releases > 0 => match n.parse::<i64>() {
            Ok(n) => format!("{head}.{}", n + releases),
            Err(_) => format!("{last}.{releases}"),
        },
        _ if releases > 0 => format!("{last}.{releases}"),
        _ => last,
    };
    (version, since % t.release_every_days)
}

/// The sources a unit comes from: (Source Type, Source Info, Campaign, weight).
fn sources(t: &Traffic) -> Vec<(String, String, String, u32)> {
    let mut v = vec![
        ("App Store search".into(), String::new(), String::new(), 500),
        ("App Store browse".into(), String::new(), String::new(), 200),
        ("Unavailable".into(), String::new(), String::new(), 40),
    ];
    let share = |n: usize, total: u32| (total / n.max(1) as u32).max(1);
    for d in &t.web_referrers {
        v.push((
            "Web referrer".into(),
            d.clone(),
            String::new(),
            share(t.web_referrers.len(), 90),
        ));
    }
    for a in &t.app_referrers {
        v.push((
            "App referrer".into(),
            a.clone(),
            String::new(),
            share(t.app_referrers.len(), 60),
        ));
    }
    // Campaign links (apps.apple.com/…?ct=NAME) arrive as web referrals carrying the campaign.
    for c in &t.campaigns {
        v.push((
            "Web referrer".into(),
            "apps.apple.com".into(),
            c.clone(),
            share(t.campaigns.len(), 70),
        ));
    }
    v
}

const PAGE_TYPES: &[(&str, u32)] = &[
    ("Product page", 72),
    ("Store sheet", 18),
    ("In-app event", 3),
    ("No page", 7),
];

/// The app units of `day` for app `app_id`, summed by Apple's dimensions (rows in key order),
/// and the day's `(first-time, redownloads, updates)` counts.
pub fn day_units(
    app_id: &str,
    t: &Traffic,
    day: Date,
    rng: &mut Rng,
) -> (Vec<AppUnitsRow>, DayUnits) {
    let mean = t.downloads_per_day * day_factor(day, t.launch_date);
    let first = rng.poisson(mean);
    let redownloads = rng.poisson(mean * 0.11);
    let restores = rng.poisson(mean * 0.01);
    // The installed base is about half a year of downloads; most of it updates within two
    // weeks of a release (auto-updates), some by hand.
    let (version, since_release) = version_on(t, day);
    let updating = if since_release < 14 {
        t.downloads_per_day
            * 180.0
            * 0.7
            * (-(since_release as f64) / 3.0).exp()
            * (1.0 - (-1.0f64 / 3.0).exp())
    } else {
        0.0
    };
    let updates = rng.poisson(updating);
    let manual = rng.poisson(updating * 0.12).min(updates);

    let devs = devices(&t.platform);
    let dev_cum = cumulative(devs.iter().map(|d| d.2));
    let pv_cum: Vec<Vec<u32>> = devs
        .iter()
        .map(|d| cumulative(d.1.iter().map(|p| p.1)))
        .collect();
    let terr_cum = cumulative(t.territories.iter().map(|x| x.2));
    let src = sources(t);
    let src_cum = cumulative(src.iter().map(|s| s.3));
    let page_cum = cumulative(PAGE_TYPES.iter().map(|p| p.1));

    // key: download type, device, platform version, source, page, territory
    let mut counts: BTreeMap<[u8; 6], i64> = BTreeMap::new();
    let kinds = [
        (0u8, first),
        (1, redownloads),
        (2, restores),
        (3, manual),
        (4, updates - manual),
    ];
    for (kind, n) in kinds {
        for _ in 0..n {
            let d = rng.pick_cum(&dev_cum);
            let pv = rng.pick_cum(&pv_cum[d]);
            let terr = rng.pick_cum(&terr_cum);
            // Updates and restores come from no store page.
            let (s, p) = if kind >= 2 {
                (2, 3)
            } else {
                (rng.pick_cum(&src_cum), rng.pick_cum(&page_cum))
            };
            let key = [kind, d as u8, pv as u8, s as u8, p as u8, terr as u8];
            *counts.entry(key).or_default() += 1;
        }
    }
    let day_s = day.to_string();
    let rows = counts
        .into_iter()
        .map(|(k, units)| {
            let (dev, pvs, _) = devs[k[1] as usize];
            let s = &src[k[3] as usize];
            AppUnitsRow {
                app_id: app_id.to_string(),
                day: day_s.clone(),
                download_type: DOWNLOAD_TYPES[k[0] as usize].into(),
                app_version: version.clone(),
                device: dev.into(),
                platform_version: pvs[k[2] as usize].0.into(),
                source_type: s.0.clone(),
                source_info: s.1.clone(),
                campaign: s.2.clone(),
                page_type: PAGE_TYPES[k[4] as usize].0.into(),
                territory: t.territories[k[5] as usize].0.clone(),
                pre_order: false,
                units,
            }
        })
        .collect();
    (
        rows,
        DayUnits {
            first_time: first,
            redownloads: redownloads + restores,
            updates,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::Traffic;
    use jiff::civil::date;

    #[test]
    fn weekends_and_christmas_are_busier_and_nothing_comes_before_launch() {
        let tue = date(2026, 6, 9);
        let sat = date(2026, 6, 13);
        assert!(day_factor(sat, None) > day_factor(tue, None));
        assert!(day_factor(date(2026, 12, 25), None) > 1.8 * day_factor(date(2026, 6, 25), None));
        assert_eq!(day_factor(tue, Some(date(2026, 7, 1))), 0.0);
        assert!(day_factor(tue, Some(tue)) > 4.0 * day_factor(tue, None));
    }

    #[test]
    fn a_day_of_units_sums_to_its_counts_and_is_reproducible() {
        let t = Traffic::resolve(None, None).unwrap();
        let day = date(2026, 3, 4);
        let (rows, c) = day_units("1", &t, day, &mut Rng::new(9));
        let (again, _) = day_units("1", &t, day, &mut Rng::new(9));
        assert_eq!(rows, again);
        let first: i64 = rows
            .iter()
            .filter(|r| r.download_type == "First-time download")
            .map(|r| r.units)
            .sum();
        assert_eq!(first as u64, c.first_time);
        assert!(
            rows.iter()
                .any(|r| r.campaign == "launch" && r.source_type == "Web referrer")
        );
        assert!(rows.iter().all(|r| r.day == "2026-03-04" && r.units > 0));
    }

    #[test]
    fn versions_advance_once_per_release_period() {
        let mut t = Traffic::resolve(None, None).unwrap();
        t.app_versions = vec!["2.3.0".into()];
        t.release_every_days = 10;
        assert_eq!(version_on(&t, date(2026, 1, 5)), ("2.3.0".into(), 4));
        assert_eq!(version_on(&t, date(2026, 1, 21)), ("2.3.2".into(), 0));
    }
}
