//! Analytics report requests: one request per (app, accessType); a second POST is answered
//! 409 STATE_ERROR "You already have such an entity", even when the first has stopped
//! (apple-semantics.md §2.3). Forum post 5: a deleted ONE_TIME_SNAPSHOT request still answers
//! that 409 for `deletedSnapshotBlockDays` after its deletion (crabapple_reports'
//! `analytics::lifecycle`), while the app's list shows only the other requests.

use crabapple_jsonapi::{AscError, BoxFut, Engine, Family, Write};
use crabapple_reports::analytics::lifecycle;
use crabapple_store::{Resource, Tx};

pub struct Analytics;

const REQUESTS: &str = "analyticsReportRequests";

/// §2.3's duplicate answer, whatever the cause.
fn already_have(reason: String) -> AscError {
    AscError::state_error("You already have such an entity").reason(reason)
}

impl Family for Analytics {
    fn name(&self) -> &'static str {
        "analytics"
    }

    fn before_write<'a>(
        &'a self,
        _engine: &'a Engine,
        tx: &'a mut Tx,
        w: &'a mut Write,
    ) -> BoxFut<'a, Result<(), AscError>> {
        Box::pin(async move {
            if w.existing.is_some() || w.rtype != REQUESTS {
                return Ok(());
            }
            let access = w.attributes.get("accessType").cloned();
            let Some((_, app)) = w
                .relationships
                .iter()
                .find(|(n, _)| n == "app")
                .and_then(|(_, l)| l.first().cloned())
            else {
                return Ok(());
            };
            for (t, id) in tx.linked("apps", &app, REQUESTS).await? {
                if let Some(r) = tx.get(&t, &id).await?
                    && r.attributes.get("accessType") == access.as_ref()
                {
                    return Err(already_have(format!(
                        "app {app} already has analytics report request {id} with this accessType (§2.3: one per app and accessType)"
                    )));
                }
            }
            if access.as_ref().and_then(|a| a.as_str()) == Some("ONE_TIME_SNAPSHOT")
                && let Some(why) = lifecycle::snapshot_still_blocked(tx, &app).await?
            {
                return Err(already_have(why));
            }
            Ok(())
        })
    }

    fn before_delete<'a>(
        &'a self,
        _engine: &'a Engine,
        tx: &'a mut Tx,
        existing: &'a Resource,
    ) -> BoxFut<'a, Result<(), AscError>> {
        Box::pin(async move {
            if existing.rtype != REQUESTS
                || existing
                    .attributes
                    .get("accessType")
                    .and_then(|a| a.as_str())
                    != Some("ONE_TIME_SNAPSHOT")
            {
                return Ok(());
            }
            // The app: the request's own link (a POST) or the app's (a seed file).
            let mut apps: Vec<String> = tx
                .linked(REQUESTS, &existing.id, "app")
                .await?
                .into_iter()
                .map(|(_, id)| id)
                .collect();
            if apps.is_empty() {
                apps = tx
                    .linking("apps", REQUESTS, (REQUESTS, &existing.id))
                    .await?;
            }
            if let Some(app) = apps.first() {
                lifecycle::snapshot_deleted(tx, app, &existing.id).await?;
            }
            Ok(())
        })
    }
}
