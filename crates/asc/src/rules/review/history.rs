//! The history of an App Store version — a crabapple extension: Apple's API has no history
//! endpoint (forum post 17 asks for the "Ready for Distribution" date the web UI's History
//! shows). Every transition of the version, of the review submissions that held it, of its items
//! and of its phased release, each at its virtual time, oldest first (the timeline's applied
//! entries), and what is planned next. Served as `GET /crabapple/v1/appStoreVersions/{id}/history`
//! and printed by `crabapple versions history VERSION_ID`.

use crate::rules::rfc3339;
use crabapple_jsonapi::AscError;
use crabapple_store::Store;
use crabapple_store::timeline::{Entry, EntryState};
use serde_json::{Value, json};

/// The resources whose entries make up version `id`'s history: the version, its submissions
/// and their items for it, its phased release.
async fn resources(store: &Store, id: &str) -> Result<Vec<(String, String)>, AscError> {
    const ALL: i64 = 10_000;
    let mut out = vec![("appStoreVersions".to_string(), id.to_string())];
    for sub in store
        .linking(
            "reviewSubmissions",
            "appStoreVersionForReview",
            ("appStoreVersions", id),
        )
        .await?
    {
        let (items, _) = store
            .linked("reviewSubmissions", &sub, "items", 0, ALL)
            .await?;
        for (_, item) in items {
            let (held, _) = store
                .linked("reviewSubmissionItems", &item, "appStoreVersion", 0, ALL)
                .await?;
            if held.iter().any(|(_, v)| v == id) {
                out.push(("reviewSubmissionItems".into(), item));
            }
        }
        out.push(("reviewSubmissions".into(), sub));
    }
    let (phased, _) = store
        .linked(
            "appStoreVersions",
            id,
            "appStoreVersionPhasedRelease",
            0,
            ALL,
        )
        .await?;
    out.extend(phased);
    Ok(out)
}

fn row(e: &Entry) -> Value {
    json!({
        "date": rfc3339(e.at_ms),
        "atMs": e.at_ms,
        "type": e.rtype,
        "id": e.id,
        "track": e.track,
        "changes": e.changes,
        "note": e.note,
    })
}

/// The history document of version `id`: `data` the transitions applied, oldest first;
/// `meta.planned` what the clock has yet to reach; `meta.readyForDistributionDate` the answer to
/// forum post 17 (`null` until the version is live).
pub async fn of_version(store: &Store, id: &str) -> Result<Value, AscError> {
    let Some(v) = store.get("appStoreVersions", id).await? else {
        return Err(AscError::not_found("appStoreVersions", id));
    };
    let mut applied = Vec::new();
    let mut planned = Vec::new();
    for (t, rid) in resources(store, id).await? {
        for e in store.timeline_of((&t, &rid)).await? {
            match e.state {
                EntryState::Applied => applied.push(e),
                EntryState::Planned => planned.push(e),
                EntryState::Cancelled => {}
            }
        }
    }
    let key = |e: &Entry| (e.at_ms, e.seq);
    applied.sort_by_key(key);
    planned.sort_by_key(key);
    let ready = applied
        .iter()
        .find(|e| {
            e.rtype == "appStoreVersions"
                && e.changes.get("appVersionState") == Some(&json!("READY_FOR_DISTRIBUTION"))
        })
        .map(|e| rfc3339(e.at_ms));
    Ok(json!({
        "data": applied.iter().map(row).collect::<Vec<_>>(),
        "meta": {
            "appStoreVersion": {
                "id": id,
                "versionString": v.attributes.get("versionString"),
                "platform": v.attributes.get("platform"),
                "appVersionState": v.attributes.get("appVersionState"),
                "createdDate": v.attributes.get("createdDate"),
                "earliestReleaseDate": v.attributes.get("earliestReleaseDate"),
            },
            "readyForDistributionDate": ready,
            "planned": planned.iter().map(row).collect::<Vec<_>>(),
        },
    }))
}
