//! `crabapple simulate`: days of a real app's downloads and customers on the virtual clock
//! (crates/simulator), with a progress bar and a summary line.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use crabapple_server::setup;
use crabapple_simulator::traffic::{self, Profile};
use crabapple_simulator::{Options, simulate};
use crabapple_storekit::Commerce;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Args)]
pub struct SimulateArgs {
    /// Data directory (SQLite store, key files).
    #[arg(long, env = "CRABAPPLE_DATA", default_value = "./crabapple-data")]
    data: PathBuf,
    /// Days to simulate, from where the virtual clock (or the last run) stands.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// The same seed and world give the same ledger and reports.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Simulate this app (bundle id; repeatable). Default: the apps of the world's `traffic:`
    /// section, else every app.
    #[arg(long = "app")]
    apps: Vec<String>,
    /// small (≈100 downloads a day), indie (≈2,000) or hit (≈100,000), for every simulated app.
    #[arg(long, value_parser = Profile::parse)]
    profile: Option<Profile>,
    /// The seed file whose `traffic:` section models the apps (default: the world this data
    /// directory was created with).
    #[arg(long)]
    world: Option<PathBuf>,
    /// First day to simulate (YYYY-MM-DD, Pacific), not before the virtual now.
    #[arg(long)]
    start: Option<jiff::civil::Date>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

pub async fn run(a: SimulateArgs) -> anyhow::Result<()> {
    let store = setup::open_existing(&a.data).await?;
    let yaml = match &a.world {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        None => world_yaml(&store).await?,
    };
    let opts = Options {
        days: a.days,
        seed: a.seed,
        apps: a.apps,
        profile: a.profile,
        traffic: traffic::parse_section(&yaml)?,
        start: a.start,
        statement_by_statement: false,
    };
    let c = Commerce::open(store, &a.data).await?;
    let bar = ProgressBar::with_draw_target(
        Some(u64::from(a.days)),
        if a.quiet || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} days  {msg}  ETA {eta}")
            .expect("template"),
    );
    let started = Instant::now();
    let sum = simulate(&c, &opts, |d| {
        bar.set_position(u64::from(d.done));
        let secs = started.elapsed().as_secs_f64().max(1e-3);
        bar.set_message(format!("{:.0} events/s", d.events as f64 / secs));
    })
    .await?;
    bar.finish_and_clear();
    let span = match (sum.first_day, sum.last_day) {
        (Some(f), Some(l)) => format!(" ({f} to {l}, Pacific)"),
        _ => String::new(),
    };
    println!(
        "simulated {} days{span}: {} downloads, {} redownloads, {} updates, {} purchases, {} renewals, {} refunds, {} notifications in {:.1} s",
        sum.days,
        sum.downloads,
        sum.redownloads,
        sum.updates,
        sum.purchases,
        sum.renewals,
        sum.refunds,
        sum.notifications,
        started.elapsed().as_secs_f64()
    );
    if sum.refused > 0 {
        println!(
            "  {} simulated events refused by the commerce rules (nothing written for them)",
            sum.refused
        );
    }
    Ok(())
}

/// The world file this data directory was created with (meta `world`): the demo world, or the
/// seed file it names.
async fn world_yaml(store: &crabapple_store::Store) -> anyhow::Result<String> {
    let w = store.meta_get("world").await?.unwrap_or_default();
    if let Some(rest) = w
        .strip_prefix("SeedFile(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let path: String = serde_json::from_str(rest).unwrap_or_else(|_| rest.to_string());
        return std::fs::read_to_string(&path).with_context(|| {
            format!("reading the seed file {path} this data directory was created with (or give --world)")
        });
    }
    Ok(if w == "Empty" {
        String::new()
    } else {
        crabapple_asc::world::DEMO_YAML.to_string()
    })
}
