//! The demo world reads like a real team's (issue 7 §2): no "bundleId 48" placeholders and
//! coherent dates (nothing released before it was created, builds expire after their upload).

mod common;

use common::*;
use serde_json::Value;

async fn all(w: &World, rtype: &str) -> Vec<Value> {
    let r = w
        .call(
            "GET",
            &format!("/crabapple/admin/resources/{rtype}"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    v.get("data")
        .cloned()
        .unwrap_or(v)
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn no_placeholder_values_and_dates_in_order() {
    let w = demo().await;
    let status = w
        .call("GET", "/crabapple/admin/status", None, None)
        .await
        .json();
    let types: Vec<String> = status["resources"]["byType"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let mut placeholders = Vec::new();
    for t in &types {
        for r in all(&w, t).await {
            for (k, v) in r["attributes"].as_object().into_iter().flatten() {
                let Some(s) = v.as_str() else { continue };
                // "<attributeName> 48" is what a schema-only synthesizer writes.
                if let Some((head, tail)) = s.rsplit_once(' ')
                    && tail.chars().all(|c| c.is_ascii_digit())
                    && head.to_ascii_lowercase().contains(&k.to_ascii_lowercase())
                {
                    placeholders.push(format!("{t}.{k} = {s:?}"));
                }
            }
        }
    }
    assert!(placeholders.is_empty(), "placeholders: {placeholders:#?}");

    for v in all(&w, "appStoreVersions").await {
        let a = &v["attributes"];
        if let (Some(c), Some(e)) = (a["createdDate"].as_str(), a["earliestReleaseDate"].as_str()) {
            assert!(
                e >= c,
                "version {} released {e} before it was created {c}",
                v["id"]
            );
        }
    }
    for b in all(&w, "builds").await {
        let a = &b["attributes"];
        if let (Some(u), Some(x)) = (a["uploadedDate"].as_str(), a["expirationDate"].as_str()) {
            assert!(x > u, "build {} expires {x} before its upload {u}", b["id"]);
        }
    }
}
