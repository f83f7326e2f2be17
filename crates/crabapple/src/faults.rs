//! `crabapple faults …`: arms, lists and disarms the faults a server injects (issue 13; the model
//! is crabapple_http::faults, the serving crates/server/src/faults.rs). The list lives in the
//! data directory's store, so a running server picks up what this command wrote at its next
//! request.

use clap::{Args, Subcommand};
use crabapple_http::faults::{self, Fault};
use crabapple_server::faults::{load, save};
use crabapple_server::setup;
use std::path::PathBuf;

#[derive(Args)]
pub struct FaultsArgs {
    #[command(subcommand)]
    cmd: FaultsCmd,
    /// Data directory (SQLite store, key files).
    #[arg(
        long,
        env = "CRABAPPLE_DATA",
        default_value = "./crabapple-data",
        global = true
    )]
    data: PathBuf,
}

#[derive(Subcommand)]
enum FaultsCmd {
    /// The armed faults (JSON).
    List,
    /// Arms a fault: `--route "GET /v1/apps*" --kind status --status 503 --retry-after 5 --count 2`.
    Arm {
        /// `METHOD /path` or `/path`, `*` matching any run of characters; for
        /// `notification-timeout`, the receiver's URL pattern.
        #[arg(long)]
        route: String,
        /// status, latency, drop, truncate or notification-timeout.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        status: Option<u16>,
        /// Seconds (`Retry-After`) for a 503 or 429.
        #[arg(long)]
        retry_after: Option<u64>,
        #[arg(long)]
        latency_ms: Option<u64>,
        /// Only requests whose path has this id as a segment.
        #[arg(long)]
        entity: Option<String>,
        /// Only requests signed by this key id.
        #[arg(long)]
        key: Option<String>,
        /// How many requests it hits (default: every matching one).
        #[arg(long)]
        count: Option<u64>,
        /// The chance a matching request is hit (0–1), drawn from --seed.
        #[arg(long)]
        probability: Option<f64>,
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Disarms one fault, or every fault with --all.
    Disarm {
        id: Option<String>,
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
}

pub async fn run(a: FaultsArgs) -> anyhow::Result<()> {
    let store = setup::open_existing(&a.data).await?;
    let mut list = load(&store).await?;
    match a.cmd {
        FaultsCmd::List => {}
        FaultsCmd::Arm {
            route,
            kind,
            status,
            retry_after,
            latency_ms,
            entity,
            key,
            count,
            probability,
            seed,
        } => {
            let kind = match kind.as_str() {
                "notification-timeout" => "notificationTimeout",
                k => k,
            };
            let v = serde_json::json!({
                "route": route, "kind": kind, "status": status, "retryAfter": retry_after,
                "latencyMs": latency_ms, "entity": entity, "keyId": key, "count": count,
                "probability": probability, "seed": seed,
            });
            let mut added: Vec<Fault> =
                faults::parse_list(&serde_json::json!([v])).map_err(|e| anyhow::anyhow!(e))?;
            list.append(&mut added);
            faults::number(&mut list);
            save(&store, &list).await?;
            list = list.split_off(list.len() - 1);
        }
        FaultsCmd::Disarm { id, all } => {
            let before = list.len();
            match (id, all) {
                (_, true) => list.clear(),
                (Some(id), false) => {
                    list.retain(|f| f.id != id);
                    anyhow::ensure!(list.len() < before, "no armed fault {id}");
                }
                (None, false) => anyhow::bail!("name a fault to disarm, or --all"),
            }
            save(&store, &list).await?;
        }
    }
    println!("{}", serde_json::to_string_pretty(&list)?);
    Ok(())
}
