//! Resources Apple creates together with their parent, which no API call creates: the per-app
//! TestFlight records (`betaAppReviewDetail`, `betaLicenseAgreement`), the subscription grace
//! period, an app info's age rating declaration and a build's beta detail — each a to-one
//! relationship whose resource has the parent's id (the spec has no POST for any of these
//! types). Beta app localizations are not among them: the developer creates them (POST
//! `betaAppLocalizations`; asconnect's model requires their `description`, so Apple has no
//! empty one), and an app starts with none.
//!
//! Created whenever a parent is: by the API (this family's `before_write`), by the admin API
//! ([`admin_write`], which also sets a build's processing in motion: builds.rs), and by the world loader for seeded resources ([`ensure_all`]).

use crate::rules::defaults::Defaults;
use crate::rules::testflight::TestFlight;
use crabapple_jsonapi::{AscError, BoxFut, Engine, Family, Write};
use crabapple_store::Tx;
use serde_json::{Map, Value, json};

pub struct Singletons;

/// `(parent type, to-one relationship, type)` of the resources created with their parent, with
/// the parent's id:
/// - betaAppReviewDetails: fastlane's spaceship PATCHes `betaAppReviewDetails/{app id}` without
///   reading the id first (`patch_beta_app_review_detail(app_id:)`).
/// - betaLicenseAgreements: the same per-app TestFlight record, with the same id scheme (Apple's
///   documentation example shows an opaque id; clients read it from
///   `/v1/apps/{id}/betaLicenseAgreement`, so either works for them).
/// - subscriptionGracePeriods: "the `id` in the URL and in the payload is the app's Apple ID"
///   (Apple, Enabling billing grace period).
/// - ageRatingDeclarations: one per app info, with the app info's id.
/// - buildBetaDetails: one per build, with the build's id.
pub const PER_PARENT: &[(&str, &str, &str)] = &[
    ("apps", "betaAppReviewDetail", "betaAppReviewDetails"),
    ("apps", "betaLicenseAgreement", "betaLicenseAgreements"),
    (
        "apps",
        "subscriptionGracePeriod",
        "subscriptionGracePeriods",
    ),
    ("appInfos", "ageRatingDeclaration", "ageRatingDeclarations"),
    ("builds", "buildBetaDetail", "buildBetaDetails"),
];

/// A new build's TestFlight states (`internalBuildState`, `externalBuildState`): from its
/// processing state and export compliance answer (builds.rs derives them once it is in groups or
/// in review).
pub fn beta_states(build: &Map<String, Value>) -> (&'static str, &'static str) {
    crate::rules::builds::beta_states(build, None, false, false)
}

/// The attributes Apple gives a new `rtype` record of a parent with `parent` attributes: unset
/// texts are `null` (left out), booleans `false`.
fn initial(rtype: &str, parent: &Map<String, Value>) -> Map<String, Value> {
    let v = match rtype {
        "betaAppReviewDetails" => json!({ "demoAccountRequired": false }),
        "subscriptionGracePeriods" => json!({ "optIn": false, "sandboxOptIn": false }),
        "buildBetaDetails" => {
            let (internal, external) = beta_states(parent);
            json!({
                "autoNotifyEnabled": false,
                "internalBuildState": internal,
                "externalBuildState": external,
            })
        }
        _ => json!({}),
    };
    v.as_object().cloned().unwrap_or_default()
}

/// Writes a record Apple creates with a parent, and links it. With `complete`, attributes the
/// initial values leave unset get plausible values (the demo world's `completeAttributes`).
async fn create(
    engine: &Engine,
    tx: &mut Tx,
    parent: (&str, &str, &Map<String, Value>),
    rel: &str,
    (rtype, id): (&str, &str),
    complete: bool,
) -> Result<(), AscError> {
    let mut attrs = if complete {
        crate::world::synth_attributes(engine, rtype, 0)
    } else {
        Map::new()
    };
    attrs.extend(initial(rtype, parent.2));
    tx.put(rtype, id, &attrs).await?;
    engine
        .link(tx, (parent.0, parent.1), rel, (rtype, id))
        .await
}

/// Creates what Apple creates with the parent `(rtype, id)` whose attributes are `attrs`, unless
/// the parent already has it.
pub async fn ensure(
    engine: &Engine,
    tx: &mut Tx,
    rtype: &str,
    id: &str,
    attrs: &Map<String, Value>,
    complete: bool,
) -> Result<(), AscError> {
    for (parent, rel, stype) in PER_PARENT {
        if *parent != rtype || !tx.linked(rtype, id, rel).await?.is_empty() {
            continue;
        }
        if tx.exists(stype, id).await? {
            engine.link(tx, (rtype, id), rel, (stype, id)).await?;
        } else {
            create(engine, tx, (rtype, id, attrs), rel, (stype, id), complete).await?;
        }
    }
    Ok(())
}

/// [`ensure`] for every stored parent (the world loader, after the seed's resources and links).
pub async fn ensure_all(engine: &Engine, tx: &mut Tx, complete: bool) -> anyhow::Result<()> {
    let mut parents: Vec<&str> = PER_PARENT.iter().map(|(p, _, _)| *p).collect();
    parents.dedup();
    for rtype in parents {
        for id in tx.ids(rtype).await? {
            let attrs = tx
                .get(rtype, &id)
                .await?
                .map(|r| r.attributes)
                .unwrap_or_default();
            ensure(engine, tx, rtype, &id, &attrs, complete)
                .await
                .map_err(|e| anyhow::anyhow!(e.reason))?;
        }
    }
    Ok(())
}

/// Completes a write of the admin API as Apple's own would be. A create gets Apple's initial
/// attributes (creation dates, states, TestFlight values) and the records created with it; an
/// update (e.g. a build's processing finishing) moves what depends on it (the build's beta
/// states). No other rule runs: the admin API sets what only Apple sets.
pub async fn admin_write(engine: &Engine, tx: &mut Tx, w: &mut Write) -> Result<(), AscError> {
    if w.existing.is_some() {
        TestFlight.before_write(engine, tx, w).await?;
        return crate::rules::builds::admin_write(tx, w).await;
    }
    Defaults.before_write(engine, tx, w).await?;
    TestFlight.before_write(engine, tx, w).await?;
    // A build Apple received: processing and expiry planned (builds.rs).
    crate::rules::builds::admin_write(tx, w).await?;
    Singletons.before_write(engine, tx, w).await
}

impl Family for Singletons {
    fn name(&self) -> &'static str {
        "singletons"
    }

    fn before_write<'a>(
        &'a self,
        engine: &'a Engine,
        tx: &'a mut Tx,
        w: &'a mut Write,
    ) -> BoxFut<'a, Result<(), AscError>> {
        Box::pin(async move {
            if w.existing.is_some() {
                return Ok(());
            }
            let complete = w.op_id == "synthesize";
            ensure(engine, tx, &w.rtype, &w.id, &w.attributes, complete).await
        })
    }
}
