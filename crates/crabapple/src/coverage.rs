//! `crabapple spec coverage`: for every operation of Apple's spec, how deep crabapple goes —
//! routed (every operation is), stateful (served by the generic store), Apple's rules (a family
//! adds rules), exercised by a real client in the test suite (recorded by `scripts/test.sh` into
//! `tests/clients/exercised-ops.txt`).

use crabapple_spec::Manifest;
use std::collections::HashSet;

const EXERCISED: &str = include_str!("../../../tests/clients/exercised-ops.txt");

pub fn print(summary_only: bool, json: bool) -> anyhow::Result<()> {
    let m = Manifest::get();
    let ruled: HashSet<&str> = crabapple_asc::families()
        .iter()
        .flat_map(|f| f.rules())
        .collect();
    let exercised: HashSet<&str> = EXERCISED
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let mut rows = Vec::new();
    let (mut stateful, mut rules, mut real, mut crud) = (0, 0, 0, 0);
    for op in &m.operations {
        let is_stateful = op.kind.is_crud();
        let has_rules = ruled.contains(op.id.as_str());
        let by_client = exercised.contains(op.id.as_str());
        crud += op.kind.is_crud() as usize;
        stateful += is_stateful as usize;
        rules += has_rules as usize;
        real += by_client as usize;
        rows.push((op, is_stateful, has_rules, by_client));
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
                "specVersion": m.version, "operations": total, "routed": total, "crudShaped": crud,
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
        "coverage: {total} operations in Apple's spec {} — {total} routed, {stateful} stateful (of {crud} CRUD-shaped), {rules} with Apple's rules, {real} exercised by a real client",
        m.version
    );
    Ok(())
}
