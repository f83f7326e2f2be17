//! The traffic model of an app: how many people find it each day, where from, on what device,
//! and how many of them pay. It lives in the world / seed file, in an optional top-level
//! `traffic:` section keyed by bundle id (documented in crates/asc/world/README.md); what a
//! section leaves out comes from its `--profile` (small ≈ 100 first-time downloads a day, indie
//! ≈ 2,000, hit ≈ 100,000; about 3 % of new users pay).

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use crabapple_reports::storefronts::{self, STOREFRONTS};
use serde::Deserialize;

/// `small`, `indie` or `hit`: the defaults of a traffic model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Small,
    Indie,
    Hit,
}

impl Profile {
    pub fn parse(s: &str) -> Result<Profile> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "small" => Profile::Small,
            "indie" => Profile::Indie,
            "hit" => Profile::Hit,
            _ => bail!("--profile is small, indie or hit, not '{s}'"),
        })
    }

    /// First-time downloads on an average day before seasonality.
    pub fn downloads_per_day(self) -> f64 {
        match self {
            Profile::Small => 100.0,
            Profile::Indie => 2_000.0,
            Profile::Hit => 100_000.0,
        }
    }
}

/// One app's `traffic:` entry; every field is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficSpec {
    pub profile: Option<Profile>,
    /// First-time downloads on an average day (before weekday, December and launch factors).
    pub downloads_per_day: Option<f64>,
    /// Share of first-time downloaders who buy something (default 0.03).
    pub paying_share: Option<f64>,
    /// `IOS` (iPhone, iPad), `MAC_OS` (Desktop) or `TV_OS` (Apple TV); default IOS.
    pub platform: Option<String>,
    /// Versions oldest first; the simulation starts on the last one and releases
    /// `{last}.1`, `.2`, … every `releaseEveryDays`.
    pub app_versions: Option<Vec<String>>,
    pub release_every_days: Option<i64>,
    /// Territory (ISO 3166-1 alpha-2 of a storefront crabapple prices) → weight.
    pub territories: Option<BTreeMap<String, u32>>,
    /// Domains of web referrers (Source Info of `Web referrer` units).
    pub web_referrers: Option<Vec<String>>,
    /// Bundle ids of referring apps (Source Info of `App referrer` units).
    pub app_referrers: Option<Vec<String>>,
    /// Campaign link names (`ct=` of App Store links).
    pub campaigns: Option<Vec<String>>,
    /// `YYYY-MM-DD`: downloads are boosted after it and decay back (launch decay).
    pub launch_date: Option<String>,
    /// Product id → weight among purchases (default: every product on sale, subscriptions
    /// weighted up).
    pub products: Option<BTreeMap<String, u32>>,
}

/// A resolved traffic model.
#[derive(Debug, Clone)]
pub struct Traffic {
    pub downloads_per_day: f64,
    pub paying_share: f64,
    pub platform: String,
    pub app_versions: Vec<String>,
    pub release_every_days: i64,
    /// (alpha-2, alpha-3, weight), in the order given (BTreeMap order for a spec's map).
    pub territories: Vec<(String, String, u32)>,
    pub web_referrers: Vec<String>,
    pub app_referrers: Vec<String>,
    pub campaigns: Vec<String>,
    pub launch_date: Option<jiff::civil::Date>,
    pub products: Option<BTreeMap<String, u32>>,
}

/// Default territory weights (roughly the App Store's revenue mix) over the storefronts
/// crabapple prices (crates/reports `storefronts`, the demo world's territories): purchases
/// happen only where a price, a currency and the VAT are known.
const WEIGHTS: &[(&str, u32)] = &[
    ("USA", 400),
    ("GBR", 70),
    ("DEU", 65),
    ("JPN", 60),
    ("FRA", 45),
    ("CAN", 40),
    ("AUS", 35),
];

/// The priced storefront (alpha-3) of an alpha-2 territory.
fn alpha3(alpha2: &str) -> Option<&'static str> {
    STOREFRONTS
        .iter()
        .find(|s| s.alpha2 == alpha2)
        .map(|s| s.alpha3)
}

impl Traffic {
    /// The model of an app from its spec (if any), with `profile` (the command's `--profile`)
    /// overriding the spec's.
    pub fn resolve(spec: Option<&TrafficSpec>, profile: Option<Profile>) -> Result<Traffic> {
        let empty = TrafficSpec::default();
        let s = spec.unwrap_or(&empty);
        // `--profile` sets the volume of every simulated app; else the spec's own.
        let downloads_per_day = match profile {
            Some(p) => p.downloads_per_day(),
            None => s
                .downloads_per_day
                .unwrap_or(s.profile.unwrap_or(Profile::Small).downloads_per_day()),
        };
        let territories = match &s.territories {
            Some(m) => m
                .iter()
                .map(|(a2, w)| {
                    let a3 = alpha3(a2).with_context(|| {
                        format!(
                            "traffic: territory '{a2}' is not one of crabapple's priced storefronts"
                        )
                    })?;
                    Ok((a2.clone(), a3.to_string(), *w))
                })
                .collect::<Result<Vec<_>>>()?,
            None => WEIGHTS
                .iter()
                .map(|(a3, w)| (storefronts::alpha2(a3).to_string(), a3.to_string(), *w))
                .collect(),
        };
        anyhow::ensure!(
            territories.iter().any(|t| t.2 > 0),
            "traffic: territories need a positive weight"
        );
        let launch_date = match &s.launch_date {
            Some(d) => Some(
                d.parse::<jiff::civil::Date>()
                    .with_context(|| format!("traffic: launchDate '{d}' is not YYYY-MM-DD"))?,
            ),
            None => None,
        };
        let words = |v: &Option<Vec<String>>, d: &[&str]| {
            v.clone()
                .unwrap_or_else(|| d.iter().map(|x| x.to_string()).collect())
        };
        Ok(Traffic {
            downloads_per_day,
            paying_share: s.paying_share.unwrap_or(0.03).clamp(0.0, 1.0),
            platform: s.platform.clone().unwrap_or_else(|| "IOS".into()),
            app_versions: words(&s.app_versions, &["1.0"]),
            release_every_days: s.release_every_days.unwrap_or(42).max(1),
            territories,
            web_referrers: words(&s.web_referrers, &["news.ycombinator.com", "reddit.com"]),
            app_referrers: words(&s.app_referrers, &["com.apple.mobilesafari"]),
            campaigns: words(&s.campaigns, &["launch", "newsletter"]),
            launch_date,
            products: s.products.clone(),
        })
    }
}

/// The `traffic:` section of a world / seed file (absent: empty).
pub fn parse_section(yaml: &str) -> Result<BTreeMap<String, TrafficSpec>> {
    #[derive(Deserialize)]
    struct Doc {
        #[serde(default)]
        traffic: BTreeMap<String, TrafficSpec>,
    }
    let d: Doc = serde_yaml::from_str(yaml).context("the world file's traffic section")?;
    Ok(d.traffic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_worlds_traffic_resolves_for_every_app() {
        let t = parse_section(crabapple_asc::world::DEMO_YAML).unwrap();
        assert_eq!(t.len(), 6);
        for (bundle, spec) in &t {
            let r = Traffic::resolve(Some(spec), None).unwrap();
            assert!(r.downloads_per_day >= 100.0, "{bundle}");
        }
        let notes = Traffic::resolve(t.get("com.crabapple.notes"), None).unwrap();
        assert_eq!(notes.downloads_per_day, 2_000.0);
        // --profile sets every app's volume.
        let hit = Traffic::resolve(t.get("com.crabapple.notes"), Some(Profile::Hit)).unwrap();
        assert_eq!(hit.downloads_per_day, 100_000.0);
        let fit = Traffic::resolve(t.get("com.crabapple.fit"), None).unwrap();
        assert_eq!(fit.territories[0].0, "AU");
        assert_eq!(
            fit.territories.iter().find(|x| x.0 == "DE").unwrap().1,
            "DEU"
        );
    }

    #[test]
    fn a_territory_without_prices_is_refused_by_name() {
        let spec: TrafficSpec = serde_yaml::from_str("territories: {ZZ: 3}").unwrap();
        let err = Traffic::resolve(Some(&spec), None).unwrap_err().to_string();
        assert_eq!(
            err,
            "traffic: territory 'ZZ' is not one of crabapple's priced storefronts"
        );
        assert!(Profile::parse("huge").is_err());
        assert!(serde_yaml::from_str::<TrafficSpec>("downloads: 5").is_err());
    }
}
