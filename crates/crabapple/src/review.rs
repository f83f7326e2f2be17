//! `crabapple review approve|reject VERSION_ID` (the reviewer on command: the planned review is
//! cancelled, the decision applied now) and `crabapple versions history VERSION_ID` (every
//! transition of a version with its virtual time) — over a data directory, like `clock`; a
//! running server sees the change on its next request.

use crate::DataArg;
use clap::Subcommand;
use crabapple_asc::rules::review::{Verdict, decide, history};
use crabapple_jsonapi::Engine;
use crabapple_server::setup::open_existing;

#[derive(Subcommand)]
pub enum ReviewCmd {
    /// Approve a version in review now (it goes where its release type leads).
    Approve {
        #[command(flatten)]
        data: DataArg,
        version_id: String,
    },
    /// Reject a version in review now (REJECTED; its submission UNRESOLVED_ISSUES).
    Reject {
        #[command(flatten)]
        data: DataArg,
        version_id: String,
        /// Why (kept in the version's history).
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum VersionsCmd {
    /// Print a version's history: each state of the version, its review submissions and its
    /// phased release with its virtual time, then what is planned.
    History {
        #[command(flatten)]
        data: DataArg,
        version_id: String,
        /// The JSON document of `GET /crabapple/v1/appStoreVersions/{id}/history`.
        #[arg(long)]
        json: bool,
    },
}

fn failed(e: crabapple_jsonapi::AscError) -> anyhow::Error {
    anyhow::anyhow!("{}", e.detail.unwrap_or(e.reason))
}

pub async fn run_review(cmd: ReviewCmd) -> anyhow::Result<()> {
    let (data, id, verdict) = match cmd {
        ReviewCmd::Approve { data, version_id } => (data, version_id, Verdict::Approve),
        ReviewCmd::Reject {
            data,
            version_id,
            reason,
        } => (
            data,
            version_id,
            Verdict::Reject(
                reason
                    .unwrap_or_else(|| crabapple_server::review_admin::DEFAULT_REASON.to_string()),
            ),
        ),
    };
    let store = open_existing(&data.data).await?;
    let engine = Engine::new(store, crabapple_asc::families());
    let state = decide(&engine, &id, verdict).await.map_err(failed)?;
    println!("{id}: {state}");
    Ok(())
}

pub async fn run_versions(cmd: VersionsCmd) -> anyhow::Result<()> {
    let VersionsCmd::History {
        data,
        version_id,
        json,
    } = cmd;
    let store = open_existing(&data.data).await?;
    // What the virtual clock reached is applied first, as a server does before each request.
    let engine = Engine::new(store.clone(), crabapple_asc::families());
    engine.run_timeline().await?;
    let doc = history::of_version(&store, &version_id)
        .await
        .map_err(failed)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    let meta = &doc["meta"]["appStoreVersion"];
    println!(
        "{} {} ({}), now {}",
        meta["platform"].as_str().unwrap_or_default(),
        meta["versionString"].as_str().unwrap_or_default(),
        version_id,
        meta["appVersionState"].as_str().unwrap_or_default()
    );
    let line = |e: &serde_json::Value| {
        let changes: Vec<String> = e["changes"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}={}", v.as_str().map_or(v.to_string(), str::to_string)))
            .collect();
        format!(
            "{}  {}  {}  {}",
            e["date"].as_str().unwrap_or_default(),
            e["type"].as_str().unwrap_or_default(),
            changes.join(" "),
            e["note"].as_str().unwrap_or_default()
        )
    };
    for e in doc["data"].as_array().into_iter().flatten() {
        println!("  {}", line(e));
    }
    for e in doc["meta"]["planned"].as_array().into_iter().flatten() {
        println!("  planned {}", line(e));
    }
    Ok(())
}
