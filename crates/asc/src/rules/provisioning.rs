//! Provisioning (bundle IDs, devices, certificates, profiles): Apple's uniqueness and limit rules
//! (apple-semantics.md §8.2) and the attributes Apple fills in on creation. Profile rules and
//! content: [`super::profiles`].

use super::{certs, find_by_attr, profiles, require_unique, rfc3339};
use crabapple_jsonapi::{AscError, BoxFut, Engine, Family, Write};
use crabapple_store::Tx;
use crabapple_storekit::pki::Pki;
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};

pub struct Provisioning {
    /// Signs `profileContent`; `None`: a PKI made once for this process.
    signer: Option<Arc<Pki>>,
}

impl Provisioning {
    pub fn new(signer: Option<Arc<Pki>>) -> Provisioning {
        Provisioning { signer }
    }

    fn signer(&self) -> Option<&Pki> {
        static OWN: OnceLock<Option<Pki>> = OnceLock::new();
        self.signer
            .as_deref()
            .or_else(|| OWN.get_or_init(|| Pki::generate().ok()).as_ref())
    }
}

/// The team's id (its App ID prefix, the `seedId` of every bundle ID it registers): the prefix
/// its bundle IDs already carry, else the team id crabapple gave it.
pub async fn team_id(engine: &Engine, tx: &mut Tx) -> Result<String, AscError> {
    if let Some(t) = engine.store.meta_get("team.id").await? {
        return Ok(t);
    }
    for id in tx.ids("bundleIds").await? {
        if let Some(b) = tx.get("bundleIds", &id).await?
            && let Some(seed) = b.attributes.get("seedId").and_then(Value::as_str)
        {
            return Ok(seed.to_string());
        }
    }
    Ok(String::new())
}

/// Certificate types the API cannot create (§8.2: "Developer ID certs cannot be created via the API").
const NOT_CREATABLE: &[&str] = &[
    "DEVELOPER_ID_APPLICATION",
    "DEVELOPER_ID_APPLICATION_G2",
    "DEVELOPER_ID_KEXT",
    "DEVELOPER_ID_KEXT_G2",
];

/// Apple's title of `ENTITY_ERROR.ATTRIBUTE.INVALID` as observed for a refused UDID
/// (futureware-tech/simulator-action#276, bitrise-steplib/steps-ios-auto-provision#130).
const INVALID_ATTRIBUTE_TITLE: &str = "An attribute in the provided entity has invalid value";

/// Whether a UDID has the form Apple accepts for the platform: an iPhone, iPad or Apple TV's
/// 40 hex digits (older devices) or 8-16 hex digits with a hyphen (A12 and later,
/// `00008030-001A35E22E88802E`); a Mac's hardware UUID (8-4-4-4-12) or the 8-16 form of Apple
/// silicon. Apple refuses a UUID for an iOS device (a simulator's UDID: futureware-tech/
/// simulator-action#276, "An invalid value '11DE7AF9-E77A-44F2-BECE-D8F9F69766B2' was provided
/// for the parameter 'udid'."). `UNIVERSAL` takes any of the forms.
fn udid_fits(platform: Option<&str>, udid: &str) -> bool {
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let groups: Vec<&str> = udid.split('-').collect();
    let ios = hex(udid, 40) || matches!(groups[..], [a, b] if hex(a, 8) && hex(b, 16));
    let uuid = matches!(groups[..], [a, b, c, d, e]
        if hex(a, 8) && hex(b, 4) && hex(c, 4) && hex(d, 4) && hex(e, 12));
    let silicon = matches!(groups[..], [a, b] if hex(a, 8) && hex(b, 16));
    match platform {
        Some("MAC_OS") => uuid || silicon,
        Some("UNIVERSAL") => ios || uuid,
        _ => ios,
    }
}

/// How many current certificates of one type a team may hold before Apple refuses another.
const MAX_CERTS_PER_TYPE: usize = 3;

impl Family for Provisioning {
    fn name(&self) -> &'static str {
        "provisioning"
    }

    /// Revoking (deleting) a certificate invalidates every profile that holds it: Apple's
    /// developer support page on certificates ("If your certificate expires or is revoked, any
    /// provisioning profile that makes reference to that certificate is no longer valid").
    fn before_delete<'a>(
        &'a self,
        _engine: &'a Engine,
        tx: &'a mut Tx,
        existing: &'a crabapple_store::Resource,
    ) -> BoxFut<'a, Result<(), AscError>> {
        Box::pin(async move {
            if existing.rtype != "certificates" {
                return Ok(());
            }
            // The profiles holding it, through the linkage's inverse index (not every profile).
            let cert = ("certificates", existing.id.as_str());
            for pid in tx.linking("profiles", "certificates", cert).await? {
                if let Some(mut p) = tx.get("profiles", &pid).await? {
                    p.attributes.insert("profileState".into(), json!("INVALID"));
                    tx.put("profiles", &pid, &p.attributes).await?;
                }
            }
            Ok(())
        })
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
                    require_unique(tx, "bundleIds", "identifier", &ident, message).await?;
                    // The App ID prefix is the team's, the same for every bundle ID it registers
                    // (a request may name it: `seedId` is an attribute of the create request).
                    let team = team_id(engine, tx).await?;
                    let given = w.attributes.get("seedId").and_then(Value::as_str);
                    if !team.is_empty() && (given.is_none() || w.op_id == "synthesize") {
                        w.attributes.insert("seedId".into(), json!(team));
                    }
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
                    // §8.2: the certificate is made for the CSR's key, so a request that is
                    // not PKCS#10 signed with its own key is refused before anything is counted.
                    // Apple's code and title for an invalid attribute value (observed for
                    // `udid`, see below); the detail is the developer portal's text for a
                    // refused CSR (quoted in micromdm/micromdm#796).
                    // Synthesized certificates (the world's filler) carry no real request:
                    // they get a fresh key.
                    let csr = match w.attributes.remove("csrContent") {
                        Some(_) if w.op_id == "synthesize" => None,
                        Some(Value::String(c)) => Some(certs::verified_csr(&c).map_err(|_| {
                            AscError::entity_error(
                                "ATTRIBUTE.INVALID",
                                INVALID_ATTRIBUTE_TITLE,
                                "Invalid Certificate Signing Request. The certificate signing request you entered appears to be invalid.",
                                "/data/attributes/csrContent",
                            )
                        })?),
                        _ => None,
                    };
                    if current_certificates(tx, &ty, now).await? >= MAX_CERTS_PER_TYPE {
                        return Err(AscError::entity_error(
                            "",
                            "There is a problem with the request entity",
                            format!(
                                "You already have a current {} certificate or a pending certificate request.",
                                certificate_kind(&ty_s)
                            ),
                            "/data/attributes/certificateType",
                        )
                        .reason(format!(
                            "the team already has {MAX_CERTS_PER_TYPE} current {ty_s} certificates (§8.2)"
                        )));
                    }
                    let serial = format!("{:016X}", uuid::Uuid::new_v4().as_u128() as u64);
                    let expires = certs::expiration_ms(&ty_s, now);
                    let team = engine.store.meta_get("team.id").await?.unwrap_or_default();
                    let team_name = engine
                        .store
                        .meta_get("team.name")
                        .await?
                        .unwrap_or_else(|| "Crabapple Demo Team".into());
                    let who = certs::identity(&ty_s, &team, &team_name, &serial[..10]);
                    let content = certs::issue(csr, &who, &serial, (now, expires));
                    w.attributes.insert("serialNumber".into(), json!(serial));
                    w.attributes
                        .insert("expirationDate".into(), json!(rfc3339(expires)));
                    w.attributes.insert("name".into(), json!(who.name));
                    w.attributes
                        .insert("displayName".into(), json!(who.display_name));
                    w.attributes.entry("platform").or_insert(json!("IOS"));
                    w.attributes.insert("activated".into(), json!(true));
                    if let Some(c) = content {
                        w.attributes.insert("certificateContent".into(), json!(c));
                    }
                }
                "devices" => {
                    let udid = w.attributes.get("udid").cloned().unwrap_or(Value::Null);
                    let udid_s = udid.as_str().unwrap_or_default();
                    let platform = w.attributes.get("platform").and_then(Value::as_str);
                    if w.op_id != "synthesize" && !udid_fits(platform, udid_s) {
                        return Err(AscError::entity_error(
                            "ATTRIBUTE.INVALID",
                            INVALID_ATTRIBUTE_TITLE,
                            format!(
                                "An invalid value '{udid_s}' was provided for the parameter 'udid'."
                            ),
                            "/data/attributes/udid",
                        ));
                    }
                    // Apple answers a registered UDID with the generic entity error, not an
                    // invalid attribute (fastlane/fastlane#17426: "code" : "ENTITY_ERROR",
                    // "title" : "There is a problem with the request entity").
                    if !find_by_attr(tx, "devices", "udid", &udid).await?.is_empty() {
                        return Err(AscError::entity_error(
                            "",
                            "There is a problem with the request entity",
                            format!("A device with number '{udid_s}' already exists on this team."),
                            "/data/attributes/udid",
                        ));
                    }
                    let class = w
                        .attributes
                        .get("deviceClass")
                        .and_then(Value::as_str)
                        .unwrap_or("IPHONE")
                        .to_string();
                    if w.op_id != "synthesize"
                        && devices_this_year(tx, &class, now).await? >= MAX_DEVICES_PER_CLASS
                    {
                        return Err(AscError::entity_error(
                            "",
                            "There is a problem with the request entity",
                            format!(
                                "Your development team has reached the maximum number of registered {} devices.",
                                device_class_name(&class)
                            ),
                            "/data/attributes/udid",
                        )
                        .reason(format!(
                            "{MAX_DEVICES_PER_CLASS} {class} devices registered in the last 365 days"
                        )));
                    }
                }
                "profiles" => {
                    let name = w.attributes.get("name").cloned().unwrap_or(Value::Null);
                    let message = format!(
                        "Multiple profiles found with the name '{}'.  Please remove the duplicate profiles and try again.",
                        name.as_str().unwrap_or_default()
                    );
                    require_unique(tx, "profiles", "name", &name, message).await?;
                    if w.op_id != "synthesize" {
                        profiles::check(tx, w).await?;
                    }
                    let platform = match w.attributes.get("profileType").and_then(Value::as_str) {
                        Some(t) if t.starts_with("MAC_") => "MAC_OS",
                        _ => "IOS",
                    };
                    w.attributes.entry("platform").or_insert(json!(platform));
                    if let Some(pki) = self.signer() {
                        let content = profiles::content(engine, tx, w, pki).await?;
                        w.attributes.insert("profileContent".into(), json!(content));
                    }
                }
                _ => {}
            }
            Ok(())
        })
    }
}

/// How Apple names a certificate type in its limit error ("You already have a current
/// Distribution certificate…", §8.2; "…a current Development certificate…" for development).
fn certificate_kind(ty: &str) -> &'static str {
    match ty {
        "DEVELOPMENT" | "IOS_DEVELOPMENT" | "MAC_APP_DEVELOPMENT" => "Development",
        "DISTRIBUTION" | "IOS_DISTRIBUTION" => "Distribution",
        "MAC_APP_DISTRIBUTION" => "Mac App Distribution",
        "MAC_INSTALLER_DISTRIBUTION" => "Mac Installer Distribution",
        "PASS_TYPE_ID" | "PASS_TYPE_ID_WITH_NFC" => "Pass Type ID",
        "APPLE_PAY" | "APPLE_PAY_RSA" => "Apple Pay Payment Processing",
        "APPLE_PAY_MERCHANT_IDENTITY" => "Apple Pay Merchant Identity",
        "APPLE_PAY_PSP_IDENTITY" => "Apple Pay Platform Integrator Identity",
        "IDENTITY_ACCESS" => "Identity Access",
        _ => "Apple",
    }
}

/// Devices a team may register per device class in a membership year (Apple's developer
/// account help: 100 of each product family; disabling one does not free its slot).
const MAX_DEVICES_PER_CLASS: usize = 100;

/// How Apple names a device class in its limit error ("Your development team has reached the
/// maximum number of registered iPhone devices.", Apple's text as Xcode and sideloading tools
/// relay it: DebianArch64/DebProvision#229, whoeevee/EeveeSpotify#489, error 5405).
fn device_class_name(class: &str) -> &'static str {
    match class {
        "IPAD" => "iPad",
        "IPOD" => "iPod touch",
        "APPLE_WATCH" => "Apple Watch",
        "APPLE_TV" => "Apple TV",
        "MAC" => "Mac",
        "APPLE_VISION_PRO" => "Apple Vision Pro",
        _ => "iPhone",
    }
}

/// Devices of `class` registered in the year before `now` (enabled or disabled: a disabled
/// device keeps its slot until the membership year ends; crabapple's year is the last 365 days
/// of the virtual clock).
async fn devices_this_year(tx: &mut Tx, class: &str, now: i64) -> Result<usize, AscError> {
    let mut n = 0;
    for id in find_by_attr(tx, "devices", "deviceClass", &json!(class)).await? {
        if let Some(d) = tx.get("devices", &id).await? {
            let added = super::ms_of(d.attributes.get("addedDate")).unwrap_or(now);
            n += usize::from(now - added < 365 * 86_400_000);
        }
    }
    Ok(n)
}

/// How many unexpired, unrevoked certificates of type `ty` the team holds.
async fn current_certificates(tx: &mut Tx, ty: &Value, now: i64) -> Result<usize, AscError> {
    let mut n = 0;
    for id in find_by_attr(tx, "certificates", "certificateType", ty).await? {
        if let Some(c) = tx.get("certificates", &id).await? {
            n += usize::from(is_current_certificate(&c, now));
        }
    }
    Ok(n)
}

/// A certificate Apple counts as current: not expired at `now`, not revoked (`activated` false).
pub fn is_current_certificate(c: &crabapple_store::Resource, now: i64) -> bool {
    let expired = super::ms_of(c.attributes.get("expirationDate")).is_some_and(|t| t <= now);
    let revoked = c.attributes.get("activated") == Some(&Value::Bool(false));
    !expired && !revoked
}
