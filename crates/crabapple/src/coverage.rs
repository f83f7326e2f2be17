//! `crabapple spec coverage`: for every operation of Apple's spec, what a test has proven —
//! never what the code merely looks able to do. Each column is read from a committed file that
//! a test writes and checks for staleness:
//! - routed: every operation of the spec has a route (the routing test in crates/server proves
//!   all of them);
//! - stateful: the write sweep (`tests/prism/write_sweep.py`) saw the operation's effect in a
//!   later request (created → fetched/listed, patched → read back, deleted → 404, linked →
//!   listed) — `tests/coverage/stateful.tsv`;
//! - rules: a row of a rules table (`crates/server/tests/rules.rs`, and the family tables in
//!   `provisioning.rs` and `pricing.rs`) or a refusal the write sweep checks proved a cited
//!   Apple rule on it — `tests/coverage/rules*.tsv`;
//! - real client: a real client (not our own HTTP helper) called it in a green run of
//!   `scripts/test.sh` — `tests/clients/exercised-ops.txt`.

use crabapple_spec::{Manifest, OpKind};
use std::collections::HashSet;

const STATEFUL: &str = include_str!("../../../tests/coverage/stateful.tsv");
/// One facts file per rules table (each written by its own test).
const RULES: [&str; 9] = [
    include_str!("../../../tests/coverage/rules.tsv"),
    include_str!("../../../tests/coverage/rules-sweep.tsv"),
    include_str!("../../../tests/coverage/rules-provisioning.tsv"),
    include_str!("../../../tests/coverage/rules-pricing.tsv"),
    include_str!("../../../tests/coverage/rules-price-changes.tsv"),
    include_str!("../../../tests/coverage/rules-reports.tsv"),
    include_str!("../../../tests/coverage/rules-uploads.tsv"),
    include_str!("../../../tests/coverage/rules-review.tsv"),
    include_str!("../../../tests/coverage/rules-release.tsv"),
];
const EXERCISED: &str = include_str!("../../../tests/clients/exercised-ops.txt");

/// The operation ids listed in a facts file (first column; `#` lines are comments).
fn ids(text: &str) -> HashSet<&str> {
    text.lines()
        .map(|l| l.split('\t').next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

fn is_write(kind: OpKind) -> bool {
    matches!(
        kind,
        OpKind::CreateInstance
            | OpKind::UpdateInstance
            | OpKind::DeleteInstance
            | OpKind::UpdateToOneRelationship
            | OpKind::CreateToManyRelationship
            | OpKind::ReplaceToManyRelationship
            | OpKind::DeleteToManyRelationship
    )
}

pub fn print(summary_only: bool, json: bool) -> anyhow::Result<()> {
    let m = Manifest::get();
    let (stateful_ids, exercised) = (ids(STATEFUL), ids(EXERCISED));
    let rules_ids: HashSet<&str> = RULES.iter().flat_map(|f| ids(f)).collect();
    let mut rows = Vec::new();
    let (mut stateful, mut rules, mut real, mut writes, mut stateful_writes) = (0, 0, 0, 0, 0);
    for op in &m.operations {
        let s = stateful_ids.contains(op.id.as_str());
        let r = rules_ids.contains(op.id.as_str());
        let c = exercised.contains(op.id.as_str());
        let w = is_write(op.kind);
        stateful += s as usize;
        rules += r as usize;
        real += c as usize;
        writes += w as usize;
        stateful_writes += (w && s) as usize;
        rows.push((op, s, r, c));
    }
    let total = m.operations.len();
    if json {
        let list: Vec<_> = rows
            .iter()
            .map(|(op, s, r, c)| {
                serde_json::json!({
                    "operationId": op.id, "method": op.method, "path": op.path,
                    "routed": true, "stateful": s, "appleRules": r, "realClient": c,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "specVersion": m.version, "operations": total, "routed": total,
                "writeOperations": writes, "statefulWrites": stateful_writes,
                "stateful": stateful, "appleRules": rules, "realClient": real, "table": list,
            }))?
        );
        return Ok(());
    }
    if !summary_only {
        println!("method   path{:66} routed stateful rules  real client", "");
        for (op, s, r, c) in &rows {
            let yn = |b: &bool| if *b { "yes" } else { "-" };
            println!(
                "{:<8} {:<70} {:<6} {:<8} {:<6} {}",
                op.method,
                op.path,
                "yes",
                yn(s),
                yn(r),
                yn(c)
            );
        }
    }
    println!(
        "coverage: {total} operations in Apple's spec {} — {total} routed, {stateful} proven stateful ({stateful_writes} of {writes} write operations), {rules} with a proven Apple rule, {real} called by a real client",
        m.version
    );
    Ok(())
}
