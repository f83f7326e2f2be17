//! `POST /v1/profiles`: Apple's rules on which devices and certificates a provisioning profile of
//! each `profileType` takes, with Apple's observed errors, and the signed `profileContent`
//! (see [`super::mobileprovision`]) built from what the profile ends up holding.
//!
//! Observed errors (409, apple-semantics.md §1.5 ENTITY_ERROR family; §8.2 for certificates):
//! - devices on an App Store profile: `ENTITY_ERROR.RELATIONSHIP.NOT_ALLOWED` "No devices can be
//!   associated to Provisioning Profiles for the App Store." (codemagic-ci-cd/cli-tools#26,
//!   fastlane#17013);
//! - no devices on a development / ad hoc profile: `ENTITY_ERROR.RELATIONSHIP.REQUIRED` "The
//!   relationship 'devices' is required but was not provided with this request."
//!   (codemagic-ci-cd/cli-tools#256, Odevio-CLI#6);
//! - a device of the wrong class (an Apple TV on an iOS profile): `ENTITY_ERROR` "Invalid
//!   deviceClass for profile type." (codemagic-ci-cd/cli-tools#200);
//! - no enabled device of the profile's platform among those given: `ENTITY_ERROR` "There are no
//!   current IOS devices on this team matching the provided device IDs." (fastlane#18542);
//! - no current (unexpired, not revoked) certificate of a type the profile type takes among those
//!   given: `ENTITY_ERROR` "There are no current certificates on this team matching the provided
//!   certificate IDs." (the developer portal's text, fastlane spaceship fixtures).

use super::mobileprovision::ProfilePlist;
use crabapple_jsonapi::{AscError, Engine, Write};
use crabapple_store::Tx;
use crabapple_storekit::pki::Pki;
use serde_json::Value;

/// Title Apple gives plain `ENTITY_ERROR`s (§8.2).
const ENTITY_TITLE: &str = "There is a problem with the request entity";

/// Profile types that list devices (development and ad hoc); every other type takes none.
fn takes_devices(profile_type: &str) -> bool {
    profile_type.ends_with("_DEVELOPMENT") || profile_type.ends_with("_ADHOC")
}

/// Certificate types a profile type can hold (development profiles take development
/// certificates, App Store / ad hoc / in-house profiles distribution ones, Mac direct profiles
/// Developer ID ones).
pub fn certificate_types_for(profile_type: &str) -> &'static [&'static str] {
    match profile_type {
        "IOS_APP_DEVELOPMENT" | "TVOS_APP_DEVELOPMENT" => &["IOS_DEVELOPMENT", "DEVELOPMENT"],
        "MAC_APP_DEVELOPMENT" => &["MAC_APP_DEVELOPMENT", "DEVELOPMENT"],
        "MAC_CATALYST_APP_DEVELOPMENT" => {
            &["MAC_APP_DEVELOPMENT", "DEVELOPMENT", "IOS_DEVELOPMENT"]
        }
        "IOS_APP_STORE" | "IOS_APP_ADHOC" | "IOS_APP_INHOUSE" | "TVOS_APP_STORE"
        | "TVOS_APP_ADHOC" | "TVOS_APP_INHOUSE" => &["IOS_DISTRIBUTION", "DISTRIBUTION"],
        "MAC_APP_STORE" | "MAC_CATALYST_APP_STORE" => &["MAC_APP_DISTRIBUTION", "DISTRIBUTION"],
        "MAC_APP_DIRECT" | "MAC_CATALYST_APP_DIRECT" => {
            &["DEVELOPER_ID_APPLICATION", "DEVELOPER_ID_APPLICATION_G2"]
        }
        _ => &[],
    }
}

/// The device `platform` a profile type provisions (tvOS devices are `IOS` devices of class
/// APPLE_TV in Apple's API).
fn device_platform(profile_type: &str) -> &'static str {
    if profile_type.starts_with("MAC_") {
        "MAC_OS"
    } else {
        "IOS"
    }
}

/// Whether a device of `class` fits a profile type.
fn device_class_fits(profile_type: &str, class: &str) -> bool {
    match device_platform(profile_type) {
        "MAC_OS" => class == "MAC",
        _ if profile_type.starts_with("TVOS_") => class == "APPLE_TV",
        _ => !matches!(class, "APPLE_TV" | "MAC"),
    }
}

fn linkage(w: &Write, rel: &str) -> Option<Vec<(String, String)>> {
    w.relationships
        .iter()
        .find(|(n, _)| n == rel)
        .map(|(_, l)| l.clone())
}

fn set_linkage(w: &mut Write, rel: &str, targets: Vec<(String, String)>) {
    if let Some((_, l)) = w.relationships.iter_mut().find(|(n, _)| n == rel) {
        *l = targets;
    }
}

fn str_attr<'a>(r: &'a crabapple_store::Resource, name: &str) -> &'a str {
    r.attributes
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Checks a new profile against Apple's rules; keeps in its relationships only the devices and
/// certificates it provisions.
pub async fn check(tx: &mut Tx, w: &mut Write) -> Result<(), AscError> {
    let ty = w
        .attributes
        .get("profileType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let now = tx.now_ms();
    let devices = linkage(w, "devices").unwrap_or_default();
    if !takes_devices(&ty) && !devices.is_empty() {
        return Err(AscError::entity_error(
            "RELATIONSHIP.NOT_ALLOWED",
            "A relationship in the provided entity is not allowed for this request",
            "No devices can be associated to Provisioning Profiles for the App Store.",
            "/data/relationships/devices",
        )
        .reason(format!(
            "{ty} profiles take no devices (only development and ad hoc profiles do)"
        )));
    }
    if takes_devices(&ty) && devices.is_empty() {
        return Err(AscError::new(
            409,
            "ENTITY_ERROR.RELATIONSHIP.REQUIRED",
            "Relationship is required",
            "The relationship 'devices' is required but was not provided with this request.",
        )
        .pointer("/data/relationships/devices")
        .reason(format!("{ty} profiles need at least one device")));
    }

    let wanted = certificate_types_for(&ty);
    let mut current_certs = Vec::new();
    for (t, id) in linkage(w, "certificates").unwrap_or_default() {
        let Some(c) = tx.get(&t, &id).await? else {
            continue;
        };
        if wanted.contains(&str_attr(&c, "certificateType"))
            && super::provisioning::is_current_certificate(&c, now)
        {
            current_certs.push((t, id));
        }
    }
    if current_certs.is_empty() {
        return Err(AscError::entity_error(
            "",
            ENTITY_TITLE,
            "There are no current certificates on this team matching the provided certificate IDs.",
            "/data/relationships/certificates",
        )
        .reason(format!(
            "a {ty} profile needs an unexpired, unrevoked certificate of type {}",
            wanted.join(" or ")
        )));
    }
    set_linkage(w, "certificates", current_certs);

    if takes_devices(&ty) {
        let platform = device_platform(&ty);
        let mut current = Vec::new();
        for (t, id) in devices {
            let Some(d) = tx.get(&t, &id).await? else {
                continue;
            };
            if !device_class_fits(&ty, str_attr(&d, "deviceClass")) {
                return Err(AscError::entity_error(
                    "",
                    ENTITY_TITLE,
                    "Invalid deviceClass for profile type.",
                    "/data/relationships/devices",
                )
                .reason(format!(
                    "device {id} is a {} and cannot be on a {ty} profile",
                    str_attr(&d, "deviceClass")
                )));
            }
            if str_attr(&d, "status") != "DISABLED" && str_attr(&d, "platform") == platform {
                current.push((t, id));
            }
        }
        if current.is_empty() {
            return Err(AscError::entity_error(
                "",
                ENTITY_TITLE,
                format!(
                    "There are no current {platform} devices on this team matching the provided device IDs."
                ),
                "/data/relationships/devices",
            )
            .reason(format!("none of the devices is an enabled {platform} device")));
        }
        set_linkage(w, "devices", current);
    }
    Ok(())
}

/// Base64 of the signed profile for `w` (its bundle ID, certificates and devices as they stand).
pub async fn content(
    engine: &Engine,
    tx: &mut Tx,
    w: &Write,
    pki: &Pki,
) -> Result<String, AscError> {
    use base64::Engine as _;
    let std = base64::engine::general_purpose::STANDARD;
    let now = tx.now_ms();
    let attr = |k: &str| {
        w.attributes
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let team_id = super::provisioning::team_id(engine, tx).await?;
    let mut p = ProfilePlist {
        name: attr("name"),
        uuid: attr("uuid"),
        profile_type: attr("profileType"),
        team_id: team_id.clone(),
        seed_id: team_id,
        team_name: engine
            .store
            .meta_get("team.name")
            .await?
            .unwrap_or_else(|| "Crabapple Demo Team".into()),
        created_ms: now,
        expires_ms: w
            .attributes
            .get("expirationDate")
            .and_then(Value::as_str)
            .and_then(|d| d.parse::<jiff::Timestamp>().ok())
            .map_or(now + 365 * 86_400_000, |t| t.as_millisecond()),
        ..ProfilePlist::default()
    };
    for (t, id) in linkage(w, "bundleId").unwrap_or_default() {
        if let Some(b) = tx.get(&t, &id).await? {
            p.app_id_name = str_attr(&b, "name").to_string();
            p.bundle_identifier = str_attr(&b, "identifier").to_string();
            if !str_attr(&b, "seedId").is_empty() {
                p.seed_id = str_attr(&b, "seedId").to_string();
            }
        }
    }
    for (t, id) in linkage(w, "certificates").unwrap_or_default() {
        if let Some(c) = tx.get(&t, &id).await?
            && let Ok(der) = std.decode(str_attr(&c, "certificateContent"))
        {
            p.certificates.push(der);
        }
    }
    for (t, id) in linkage(w, "devices").unwrap_or_default() {
        if let Some(d) = tx.get(&t, &id).await? {
            p.devices.push(str_attr(&d, "udid").to_string());
        }
    }
    Ok(std.encode(p.sign(pki, now)))
}
