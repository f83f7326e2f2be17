//! One module per family of Apple's rules.

pub mod analytics;
pub mod assets;
pub mod beta_review;
pub mod builds;
pub mod builds_upload;
pub mod bundle;
pub mod catalog;
pub mod certs;
pub mod cgbi;
pub mod defaults;
pub mod images;
pub mod initial;
pub mod mobileprovision;
pub mod pkg;
pub mod pkg_icon;
pub mod price_points;
pub mod pricing;
pub mod profiles;
pub mod provisioning;
pub mod review;
pub mod singletons;
pub mod testflight;
pub mod uploads;
pub mod users;

use crabapple_jsonapi::AscError;
use crabapple_store::Tx;
use serde_json::Value;

/// The first target of a to-one relationship stored for `(rtype, id)`.
pub async fn linked_one(
    tx: &mut Tx,
    rtype: &str,
    id: &str,
    rel: &str,
) -> Result<Option<String>, AscError> {
    Ok(tx
        .linked(rtype, id, rel)
        .await?
        .into_iter()
        .next()
        .map(|(_, i)| i))
}

/// RFC 3339 (UTC, seconds) for epoch milliseconds, as Apple's `date-time` attributes are written.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| {
            t.strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
                .replace("+00:00", "Z")
        })
        .unwrap_or_default()
}

/// A `date-time` attribute (RFC 3339) in epoch milliseconds; `None` when absent or not a time.
pub fn ms_of(v: Option<&Value>) -> Option<i64> {
    v.and_then(Value::as_str)
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_millisecond())
}

pub fn date(ms: i64) -> String {
    rfc3339(ms).chars().take(10).collect()
}

/// 409 `ENTITY_ERROR.ATTRIBUTE.INVALID` with Apple's `message` when another resource of `rtype`
/// already has this value of attribute `name`.
pub async fn require_unique(
    tx: &mut Tx,
    rtype: &str,
    name: &str,
    value: &Value,
    message: String,
) -> Result<(), AscError> {
    if find_by_attr(tx, rtype, name, value).await?.is_empty() {
        return Ok(());
    }
    Err(AscError::entity_error(
        "ATTRIBUTE.INVALID",
        "An attribute value is invalid.",
        message,
        &format!("/data/attributes/{name}"),
    ))
}

/// Ids of resources of `rtype` whose attribute `name` equals `value` (inside the transaction),
/// through the store's attribute indexes (issue 8: a write must not scan its type).
pub async fn find_by_attr(
    tx: &mut Tx,
    rtype: &str,
    name: &str,
    value: &Value,
) -> Result<Vec<String>, AscError> {
    Ok(tx.find_ids(rtype, name, value).await?)
}

/// The `(type, id)` linkage a relationship request lists in `data`, in order.
pub fn listed_linkage(body: &[u8]) -> Vec<(String, String)> {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| Some((d["type"].as_str()?.into(), d["id"].as_str()?.into())))
        .collect()
}
