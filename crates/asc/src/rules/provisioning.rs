//! Provisioning (bundle IDs, devices, certificates, profiles): Apple's uniqueness and limit rules
//! (apple-semantics.md §8.2) and the attributes Apple fills in on creation.

use super::{certs, find_by_attr, require_unique, rfc3339};
use crabapple_jsonapi::{AscError, BoxFut, Engine, Family, Write};
use crabapple_store::Tx;
use serde_json::{Value, json};

pub struct Provisioning;

/// Certificate types the API cannot create (§8.2: "Developer ID certs cannot be created via the API").
const NOT_CREATABLE: &[&str] = &[
    "DEVELOPER_ID_APPLICATION",
    "DEVELOPER_ID_APPLICATION_G2",
    "DEVELOPER_ID_KEXT",
    "DEVELOPER_ID_KEXT_G2",
];

/// How many current certificates of one type a team may hold before Apple refuses another.
const MAX_CERTS_PER_TYPE: usize = 3;

impl Family for Provisioning {
    fn name(&self) -> &'static str {
        "provisioning"
    }

    fn rules(&self) -> Vec<&'static str> {
        vec![
            "bundleIds_createInstance",
            "devices_createInstance",
            "certificates_createInstance",
            "profiles_createInstance",
        ]
    }

    /// A real DEVELOPMENT certificate response carries `"csrContent": null` (captured in
    /// codemagic-cli-tools' fixtures; its `Certificate` model requires the key).
    fn legacy_attributes(&self) -> Vec<(&'static str, &'static str)> {
        vec![("certificates", "csrContent")]
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
            let now = tx.now_ms();
            match w.rtype.as_str() {
                "bundleIds" => {
                    let ident = w
                        .attributes
                        .get("identifier")
                        .cloned()
                        .unwrap_or(Value::Null);
                    let message = format!(
                        "An App ID with Identifier '{}' is not available. Please enter a different string.",
                        ident.as_str().unwrap_or_default()
                    );
                    require_unique(engine, tx, "bundleIds", "identifier", &ident, message).await?;
                    if let Some(team) = engine.store.meta_get("team.id").await? {
                        w.attributes.entry("seedId").or_insert(json!(team));
                    }
                }
                "devices" => {
                    let udid = w.attributes.get("udid").cloned().unwrap_or(Value::Null);
                    let message = format!(
                        "A device with number '{}' already exists on this team.",
                        udid.as_str().unwrap_or_default()
                    );
                    require_unique(engine, tx, "devices", "udid", &udid, message).await?;
                }
                "certificates" => {
                    let ty = w
                        .attributes
                        .get("certificateType")
                        .cloned()
                        .unwrap_or(Value::Null);
                    let ty_s = ty.as_str().unwrap_or_default().to_string();
                    if NOT_CREATABLE.contains(&ty_s.as_str()) {
                        return Err(AscError::entity_error(
                            "ATTRIBUTE.INVALID",
                            "An attribute value is invalid.",
                            format!(
                                "Certificates of type '{ty_s}' can not be created with the API."
                            ),
                            "/data/attributes/certificateType",
                        ));
                    }
                    if find_by_attr(engine, tx, "certificates", "certificateType", &ty)
                        .await?
                        .len()
                        >= MAX_CERTS_PER_TYPE
                    {
                        return Err(AscError::entity_error(
                            "",
                            "There is a problem with the request entity",
                            "You already have a current Distribution certificate or a pending certificate request.",
                            "/data/attributes/certificateType",
                        ));
                    }
                    let serial = format!("{:016X}", uuid::Uuid::new_v4().as_u128() as u64);
                    let expires = now + 365 * 86_400_000;
                    let team = engine.store.meta_get("team.id").await?.unwrap_or_default();
                    let name = format!("{}: Crabapple Demo Team", certificate_title(&ty_s));
                    let csr = w.attributes.remove("csrContent");
                    let content = certs::issue(
                        csr.as_ref().and_then(Value::as_str),
                        &name,
                        &team,
                        &serial,
                        expires,
                    );
                    w.attributes.insert("serialNumber".into(), json!(serial));
                    w.attributes
                        .insert("expirationDate".into(), json!(rfc3339(expires)));
                    w.attributes.insert("name".into(), json!(name));
                    w.attributes
                        .insert("displayName".into(), json!("Crabapple Demo Team"));
                    w.attributes.entry("platform").or_insert(json!("IOS"));
                    w.attributes.insert("activated".into(), json!(true));
                    if let Some(c) = content {
                        w.attributes.insert("certificateContent".into(), json!(c));
                    }
                }
                "profiles" => {
                    let name = w.attributes.get("name").cloned().unwrap_or(Value::Null);
                    let message = format!(
                        "Multiple profiles found with the name '{}'.  Please remove the duplicate profiles and try again.",
                        name.as_str().unwrap_or_default()
                    );
                    require_unique(engine, tx, "profiles", "name", &name, message).await?;
                    w.attributes.insert(
                        "profileContent".into(),
                        json!(base64_std(
                            format!("crabapple provisioning profile {}", w.id).as_bytes()
                        )),
                    );
                    w.attributes.entry("platform").or_insert(json!("IOS"));
                }
                _ => {}
            }
            Ok(())
        })
    }
}

/// The common-name prefix Apple gives each certificate type.
fn certificate_title(ty: &str) -> &'static str {
    match ty {
        "IOS_DEVELOPMENT" => "iPhone Developer",
        "IOS_DISTRIBUTION" => "iPhone Distribution",
        "DEVELOPMENT" => "Apple Development",
        "DISTRIBUTION" => "Apple Distribution",
        "MAC_APP_DISTRIBUTION" => "3rd Party Mac Developer Application",
        "MAC_INSTALLER_DISTRIBUTION" => "3rd Party Mac Developer Installer",
        "MAC_APP_DEVELOPMENT" => "Mac Developer",
        "PASS_TYPE_ID" | "PASS_TYPE_ID_WITH_NFC" => "Pass Type ID",
        _ => "Apple Certificate",
    }
}

fn base64_std(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}
