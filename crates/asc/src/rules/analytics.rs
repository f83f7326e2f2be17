//! Analytics report requests: one request per (app, accessType); a second POST is answered
//! 409 STATE_ERROR "You already have such an entity", even when the first has stopped
//! (apple-semantics.md §2.3).

use crabapple_jsonapi::{AscError, BoxFut, Engine, Family, Write};
use crabapple_store::Tx;

pub struct Analytics;

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
            if w.existing.is_some() || w.rtype != "analyticsReportRequests" {
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
            for (t, id) in tx.linked("apps", &app, "analyticsReportRequests").await? {
                if let Some(r) = tx.get(&t, &id).await?
                    && r.attributes.get("accessType") == access.as_ref()
                {
                    return Err(AscError::state_error("You already have such an entity")
                        .reason(format!(
                            "app {app} already has analytics report request {id} with this accessType (§2.3: one per app and accessType)"
                        )));
                }
            }
            Ok(())
        })
    }
}
