//! Provisioning through the API on the demo world: Apple's profile, certificate and bundle ID rules
//! with Apple's errors (apple-semantics.md §1.5 ENTITY_ERROR family, §8.2 certificates), and the
//! signed `profileContent` checked with the openssl CLI.

mod common;

use base64::Engine as _;
use common::World;
use serde_json::{Value, json};

/// Demo world ids (crates/asc/world/demo.yaml).
const NOTES_BUNDLE: &str = "X2S4Q7N8J9";
const DEV_CERT: &str = "BE86UA67YM"; // DEVELOPMENT
const DIST_CERT: &str = "HHXT4R3ZSM"; // DISTRIBUTION
const MAC_DIST_CERT: &str = "HBQJ0516FW"; // MAC_APP_DISTRIBUTION
const IPHONE: &str = "T2E5RE8AZD"; // ENABLED
const IPAD: &str = "45Q8ACDZ6N"; // ENABLED
const DISABLED_IPHONE: &str = "ECN3PN9UPR";
const APPLE_TV: &str = "2VXZSZRZUL";
const MAC: &str = "J3V83F87C2";
const DEMO_TEAM: &str = "C7R4B9A2QP";

fn profile_doc(name: &str, ty: &str, certs: &[&str], devices: Option<&[&str]>) -> Value {
    let mut rels = json!({
        "bundleId": { "data": { "type": "bundleIds", "id": NOTES_BUNDLE } },
        "certificates": { "data": certs.iter().map(|c| json!({ "type": "certificates", "id": c })).collect::<Vec<_>>() },
    });
    if let Some(d) = devices {
        rels["devices"] = json!({ "data": d.iter().map(|d| json!({ "type": "devices", "id": d })).collect::<Vec<_>>() });
    }
    json!({ "data": { "type": "profiles", "attributes": { "name": name, "profileType": ty }, "relationships": rels } })
}

async fn post(w: &World, path: &str, body: Value) -> common::Resp {
    w.call("POST", path, Some(&w.token.clone()), Some(body))
        .await
}

/// A certificate Apple would hold in this state (written through the admin API, no rules run).
async fn admin_certificate(w: &World, ty: &str, expiration: &str, activated: bool) -> String {
    let c = w
        .admin_create(
            "certificates",
            json!({ "attributes": { "name": format!("{ty} test"), "certificateType": ty,
                    "expirationDate": expiration, "activated": activated } }),
        )
        .await;
    c["id"].as_str().unwrap().to_string()
}

/// `(code, title, detail)` of Apple's error.
type Expected = (&'static str, &'static str, &'static str);
/// `(profileType, why, certificates, devices, error, source pointer)`.
type Case<'a> = (
    &'a str,
    &'a str,
    Vec<&'a str>,
    Option<Vec<&'a str>>,
    Expected,
    &'a str,
);

#[tokio::test]
async fn s8_2_profile_rules_answer_apples_errors() {
    let w = common::demo().await;
    let expired = admin_certificate(&w, "DISTRIBUTION", "2020-01-01T00:00:00Z", true).await;
    let revoked = admin_certificate(&w, "DEVELOPMENT", "2040-01-01T00:00:00Z", false).await;
    const NOT_ALLOWED: (&str, &str, &str) = (
        "ENTITY_ERROR.RELATIONSHIP.NOT_ALLOWED",
        "A relationship in the provided entity is not allowed for this request",
        "No devices can be associated to Provisioning Profiles for the App Store.",
    );
    const REQUIRED: (&str, &str, &str) = (
        "ENTITY_ERROR.RELATIONSHIP.REQUIRED",
        "Relationship is required",
        "The relationship 'devices' is required but was not provided with this request.",
    );
    const NO_CERTS: (&str, &str, &str) = (
        "ENTITY_ERROR",
        "There is a problem with the request entity",
        "There are no current certificates on this team matching the provided certificate IDs.",
    );
    const DEVICE_CLASS: (&str, &str, &str) = (
        "ENTITY_ERROR",
        "There is a problem with the request entity",
        "Invalid deviceClass for profile type.",
    );
    const NO_IOS_DEVICES: (&str, &str, &str) = (
        "ENTITY_ERROR",
        "There is a problem with the request entity",
        "There are no current IOS devices on this team matching the provided device IDs.",
    );
    let cases: Vec<Case> = vec![
        (
            "IOS_APP_STORE",
            "App Store profiles take no devices",
            vec![DIST_CERT],
            Some(vec![IPHONE]),
            NOT_ALLOWED,
            "/data/relationships/devices",
        ),
        (
            "MAC_APP_STORE",
            "Mac App Store profiles take no devices",
            vec![MAC_DIST_CERT],
            Some(vec![MAC]),
            NOT_ALLOWED,
            "/data/relationships/devices",
        ),
        (
            "IOS_APP_DEVELOPMENT",
            "development profiles need a device",
            vec![DEV_CERT],
            None,
            REQUIRED,
            "/data/relationships/devices",
        ),
        (
            "IOS_APP_ADHOC",
            "ad hoc profiles need a device (empty linkage)",
            vec![DIST_CERT],
            Some(vec![]),
            REQUIRED,
            "/data/relationships/devices",
        ),
        (
            "IOS_APP_STORE",
            "a development certificate on an App Store profile",
            vec![DEV_CERT],
            None,
            NO_CERTS,
            "/data/relationships/certificates",
        ),
        (
            "IOS_APP_DEVELOPMENT",
            "a distribution certificate on a development profile",
            vec![DIST_CERT],
            Some(vec![IPHONE]),
            NO_CERTS,
            "/data/relationships/certificates",
        ),
        (
            "MAC_APP_STORE",
            "an iOS-only distribution type on a Mac profile",
            vec!["MUQ7JBQC5V"],
            None,
            NO_CERTS,
            "/data/relationships/certificates",
        ),
        (
            "IOS_APP_STORE",
            "an expired certificate",
            vec![&expired],
            None,
            NO_CERTS,
            "/data/relationships/certificates",
        ),
        (
            "IOS_APP_DEVELOPMENT",
            "a revoked certificate",
            vec![&revoked],
            Some(vec![IPHONE]),
            NO_CERTS,
            "/data/relationships/certificates",
        ),
        (
            "IOS_APP_DEVELOPMENT",
            "an Apple TV on an iOS profile",
            vec![DEV_CERT],
            Some(vec![IPHONE, APPLE_TV]),
            DEVICE_CLASS,
            "/data/relationships/devices",
        ),
        (
            "MAC_APP_DEVELOPMENT",
            "an iPhone on a Mac profile",
            vec![DEV_CERT],
            Some(vec![IPHONE]),
            DEVICE_CLASS,
            "/data/relationships/devices",
        ),
        (
            "IOS_APP_DEVELOPMENT",
            "only disabled devices",
            vec![DEV_CERT],
            Some(vec![DISABLED_IPHONE]),
            NO_IOS_DEVICES,
            "/data/relationships/devices",
        ),
    ];
    let before = w.get("/v1/profiles?limit=200").await.json()["data"]
        .as_array()
        .unwrap()
        .len();
    for (i, (ty, why, certs, devices, (code, title, detail), pointer)) in cases.iter().enumerate() {
        let r = post(
            &w,
            "/v1/profiles",
            profile_doc(&format!("rule case {i}"), ty, certs, devices.as_deref()),
        )
        .await;
        assert_eq!(r.status, 409, "{why}: {}", String::from_utf8_lossy(&r.body));
        let e = &r.json()["errors"][0];
        assert_eq!(e["status"], "409", "{why}");
        assert_eq!(e["code"], *code, "{why}");
        assert_eq!(e["title"], *title, "{why}");
        assert_eq!(e["detail"], *detail, "{why}");
        assert_eq!(e["source"]["pointer"], *pointer, "{why}");
    }
    let after = w.get("/v1/profiles?limit=200").await.json()["data"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "a refused profile writes nothing");
    common::check_facts(
        "rules-provisioning",
        &common::rules_header("crates/server/tests/provisioning.rs"),
        cases
            .iter()
            .map(|(ty, why, ..)| {
                format!("profiles_createInstance\tapple-semantics.md §8.2 — {ty}: {why}")
            })
            .collect(),
    );

    // What Apple takes: an App Store profile without devices, a Mac App Store profile with a
    // Mac distribution certificate, an ad hoc profile with an enabled iPad.
    for (ty, certs, devices) in [
        ("IOS_APP_STORE", vec![DIST_CERT], None),
        ("MAC_APP_STORE", vec![MAC_DIST_CERT], None),
        ("IOS_APP_ADHOC", vec![DIST_CERT], Some(vec![IPAD])),
    ] {
        let r = post(
            &w,
            "/v1/profiles",
            profile_doc(&format!("ok {ty}"), ty, &certs, devices.as_deref()),
        )
        .await;
        assert_eq!(r.status, 201, "{ty}: {}", String::from_utf8_lossy(&r.body));
        let a = &r.json()["data"]["attributes"];
        assert_eq!(a["profileState"], "ACTIVE");
        let platform = if ty.starts_with("MAC_") {
            "MAC_OS"
        } else {
            "IOS"
        };
        assert_eq!(a["platform"], platform, "{ty}");
    }
}

/// Runs `openssl` with `args` on `input`, returning stdout; the test fails when openssl is
/// missing (it is part of every Debian machine this suite runs on).
fn openssl(args: &[&str], input: &std::path::Path) -> String {
    let out = std::process::Command::new("openssl")
        .args(args)
        .arg("-in")
        .arg(input)
        .output()
        .expect("the openssl CLI is needed to check profileContent (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn s8_2_profile_content_is_a_signed_plist_that_openssl_verifies() {
    let w = common::demo().await;
    let r = post(
        &w,
        "/v1/profiles",
        profile_doc(
            "Notes Dev (openssl)",
            "IOS_APP_DEVELOPMENT",
            &[DEV_CERT],
            Some(&[IPHONE, DISABLED_IPHONE]),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let doc = r.json();
    let id = doc["data"]["id"].as_str().unwrap().to_string();
    let attrs = &doc["data"]["attributes"];
    let der = base64::engine::general_purpose::STANDARD
        .decode(attrs["profileContent"].as_str().unwrap())
        .unwrap();
    let path = w.dir.join("profile.mobileprovision");
    std::fs::write(&path, &der).unwrap();

    // Both openssl front ends check the signature over the content (-noverify: not the chain).
    let plist = openssl(&["cms", "-verify", "-noverify", "-inform", "DER"], &path);
    let smime = openssl(&["smime", "-verify", "-noverify", "-inform", "DER"], &path);
    assert_eq!(plist, smime);
    // And the whole chain verifies against the data directory's root.
    let root = w.dir.join("pki").join("root.pem");
    let chained = openssl(
        &[
            "cms",
            "-verify",
            "-inform",
            "DER",
            "-purpose",
            "any",
            "-CAfile",
            root.to_str().unwrap(),
        ],
        &path,
    );
    assert_eq!(plist, chained);
    for key in [
        "ApplicationIdentifierPrefix",
        "DeveloperCertificates",
        "ProvisionedDevices",
        "TeamIdentifier",
    ] {
        assert!(
            plist.contains(&format!("<key>{key}</key>")),
            "{key}:\n{plist}"
        );
    }
    let uuid = attrs["uuid"].as_str().unwrap();
    assert!(
        plist.contains(&format!("<string>{uuid}</string>")),
        "{plist}"
    );
    assert!(plist.contains("<string>Notes Dev (openssl)</string>"));
    assert!(plist.contains(&format!(
        "<key>application-identifier</key>\n\t\t<string>{DEMO_TEAM}.com.crabapple.notes</string>"
    )));
    assert!(plist.contains(&format!(
        "<key>com.apple.developer.team-identifier</key>\n\t\t<string>{DEMO_TEAM}</string>"
    )));
    assert!(plist.contains("<key>get-task-allow</key>\n\t\t<true/>"));
    // The certificate's DER, and only the enabled device's UDID.
    let cert = w.get(&format!("/v1/certificates/{DEV_CERT}")).await.json();
    let cert_b64 = cert["data"]["attributes"]["certificateContent"]
        .as_str()
        .unwrap();
    assert!(plist.contains(&format!("<data>{cert_b64}</data>")));
    assert!(plist.contains("<string>00008130-001A2C3E0C12801E</string>"));
    assert!(!plist.contains("6e3f1a2b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f"));
    let linked = w
        .get(&format!("/v1/profiles/{id}/relationships/devices"))
        .await
        .json();
    assert_eq!(linked["data"], json!([{ "type": "devices", "id": IPHONE }]));

    // Signed by the data directory's PKI: its leaf is the signer.
    let certs = openssl(&["pkcs7", "-inform", "DER", "-print_certs"], &path);
    let leaf = w.app.commerce.pki().chain_der()[0].to_vec();
    let leaf_pem = base64::engine::general_purpose::STANDARD.encode(&leaf);
    assert!(
        certs.replace('\n', "").contains(&leaf_pem),
        "the data directory's leaf is in the SignedData"
    );
}

#[tokio::test]
async fn s8_2_certificate_limit_names_the_certificate_type() {
    let w = common::demo().await;
    let create = |ty: &'static str| json!({ "data": { "type": "certificates", "attributes": { "certificateType": ty, "csrContent": pem_csr() } } });
    // The demo team holds 2 DEVELOPMENT and 1 DISTRIBUTION certificate; the limit is 3 per type.
    for (ty, free, word) in [
        ("DEVELOPMENT", 1, "Development"),
        ("DISTRIBUTION", 2, "Distribution"),
    ] {
        for _ in 0..free {
            let r = post(&w, "/v1/certificates", create(ty)).await;
            assert_eq!(r.status, 201, "{ty}: {}", String::from_utf8_lossy(&r.body));
        }
        let r = post(&w, "/v1/certificates", create(ty)).await;
        assert_eq!(r.status, 409, "{ty}");
        let e = &r.json()["errors"][0];
        assert_eq!(e["code"], "ENTITY_ERROR");
        assert_eq!(e["title"], "There is a problem with the request entity");
        assert_eq!(
            e["detail"],
            format!(
                "You already have a current {word} certificate or a pending certificate request."
            )
        );
    }
}

#[tokio::test]
async fn new_bundle_ids_get_the_teams_seed_id() {
    let w = common::demo().await;
    for n in 0..2 {
        let r = post(
            &w,
            "/v1/bundleIds",
            json!({ "data": { "type": "bundleIds", "attributes": {
                "identifier": format!("com.crabapple.seed{n}"), "name": format!("Seed {n}"), "platform": "IOS" } } }),
        )
        .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["data"]["attributes"]["seedId"], DEMO_TEAM);
    }
    // `seedId` is an attribute of Apple's create request: a prefix the request names is kept.
    let r = post(
        &w,
        "/v1/bundleIds",
        json!({ "data": { "type": "bundleIds", "attributes": {
            "identifier": "com.crabapple.seedgiven", "name": "Seed given", "platform": "IOS", "seedId": DEMO_TEAM } } }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["data"]["attributes"]["seedId"], DEMO_TEAM);
}

#[tokio::test]
async fn revoking_a_certificate_invalidates_the_profiles_that_hold_it() {
    let w = common::demo().await;
    // Demo profiles: MS3DSS8D46 (development) holds DEV_CERT, 2W3BSTANGH (App Store) does not.
    let r = w
        .call(
            "DELETE",
            &format!("/v1/certificates/{DEV_CERT}"),
            Some(&w.token.clone()),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    let state = |doc: Value| doc["data"]["attributes"]["profileState"].clone();
    assert_eq!(
        state(w.get("/v1/profiles/MS3DSS8D46").await.json()),
        "INVALID"
    );
    assert_eq!(
        state(w.get("/v1/profiles/2W3BSTANGH").await.json()),
        "ACTIVE"
    );
}

/// A PKCS#10 request for a fresh key, as PEM (what codemagic-cli-tools sends).
fn pem_csr() -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    rcgen::CertificateParams::default()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap()
}

fn certificate_doc(ty: &str, csr: &str) -> Value {
    json!({ "data": { "type": "certificates", "attributes": { "certificateType": ty, "csrContent": csr } } })
}

#[tokio::test]
async fn s8_2_csr_not_pkcs10_signed_by_its_key_is_409_attribute_invalid() {
    let w = common::demo().await;
    let b64: String = pem_csr()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let engine = base64::engine::general_purpose::STANDARD;
    let mut der = engine.decode(b64).unwrap();
    *der.last_mut().unwrap() ^= 0x01; // one bit of the signature
    for csr in ["not a CSR".to_string(), engine.encode(der)] {
        let r = post(
            &w,
            "/v1/certificates",
            certificate_doc("DISTRIBUTION", &csr),
        )
        .await;
        assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
        let e = &r.json()["errors"][0];
        assert_eq!(e["status"], "409");
        assert_eq!(e["code"], "ENTITY_ERROR.ATTRIBUTE.INVALID");
        assert_eq!(
            e["title"],
            "An attribute in the provided entity has invalid value"
        );
        assert_eq!(
            e["detail"],
            "Invalid Certificate Signing Request. The certificate signing request you entered appears to be invalid."
        );
        assert_eq!(e["source"]["pointer"], "/data/attributes/csrContent");
    }
    // Nothing was counted: the team may still create its certificates.
    let r = post(
        &w,
        "/v1/certificates",
        certificate_doc("DISTRIBUTION", &pem_csr()),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test]
async fn s8_2_certificate_names_and_validity_per_type() {
    let w = common::demo().await;
    let create = async |ty: &str| {
        let r = post(&w, "/v1/certificates", certificate_doc(ty, &pem_csr())).await;
        assert_eq!(r.status, 201, "{ty}: {}", String::from_utf8_lossy(&r.body));
        r.json()["data"]["attributes"].clone()
    };
    let dev = create("DEVELOPMENT").await;
    assert_eq!(dev["name"], "Apple Development: Created via API");
    assert_eq!(dev["displayName"], "Created via API");
    let dist = create("DISTRIBUTION").await;
    let team = dist["displayName"].as_str().unwrap().to_string();
    assert_eq!(dist["name"], format!("Apple Distribution: {team}"));
    let der = base64::engine::general_purpose::STANDARD
        .decode(dist["certificateContent"].as_str().unwrap())
        .unwrap();
    let cn = format!("Apple Distribution: {team} ({DEMO_TEAM})");
    assert!(
        der.windows(cn.len()).any(|w| w == cn.as_bytes()),
        "the subject's common name is {cn}"
    );
    let pay = create("APPLE_PAY").await;
    assert_eq!(pay["name"], format!("Apple Pay Payment Processing: {team}"));
    let months = |a: &Value| {
        let d: jiff::civil::Date = a["expirationDate"].as_str().unwrap()[..10].parse().unwrap();
        i32::from(d.year()) * 12 + i32::from(d.month())
    };
    assert_eq!(months(&pay) - months(&dist), 13, "25 months against 12");
    assert_eq!(months(&dev), months(&dist));
}

#[tokio::test]
async fn s8_2_udid_forms_per_platform_apples_invalid_value_text() {
    let w = common::demo().await;
    let cases = [
        ("IOS", "6e3f1a2b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e40", true),
        ("IOS", "00008030-001A35E22E880000", true),
        // A simulator's UUID, Apple's own example of a refused iOS UDID.
        ("IOS", "11DE7AF9-E77A-44F2-BECE-D8F9F69766B2", false),
        ("IOS", "not-a-udid", false),
        ("MAC_OS", "3D7FADF5-D61B-5F6B-A254-0123456789AB", true),
        ("MAC_OS", "00006030-001E19D83C420000", true),
        ("MAC_OS", "6e3f1a2b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e41", false),
    ];
    for (n, (platform, udid, ok)) in cases.into_iter().enumerate() {
        let doc = json!({ "data": { "type": "devices", "attributes": {
            "name": format!("Form {n}"), "udid": udid, "platform": platform } } });
        let r = post(&w, "/v1/devices", doc).await;
        if ok {
            assert_eq!(
                r.status,
                201,
                "{platform} {udid}: {}",
                String::from_utf8_lossy(&r.body)
            );
            continue;
        }
        assert_eq!(r.status, 409, "{platform} {udid}");
        let e = &r.json()["errors"][0];
        assert_eq!(e["code"], "ENTITY_ERROR.ATTRIBUTE.INVALID");
        assert_eq!(
            e["title"],
            "An attribute in the provided entity has invalid value"
        );
        assert_eq!(
            e["detail"],
            format!("An invalid value '{udid}' was provided for the parameter 'udid'.")
        );
        assert_eq!(e["source"]["pointer"], "/data/attributes/udid");
    }
}

#[tokio::test]
async fn s8_2_hundred_devices_per_class_a_year_disabled_ones_count() {
    let w = common::demo().await;
    let register = async |n: usize| {
        let doc = json!({ "data": { "type": "devices", "attributes": {
            "name": format!("Lab iPhone {n}"), "udid": format!("{n:040x}"), "platform": "IOS" } } });
        post(&w, "/v1/devices", doc).await
    };
    let mut lab = Vec::new();
    let refused = loop {
        let r = register(lab.len()).await;
        if r.status != 201 {
            break r;
        }
        lab.push(r.json()["data"].clone());
        assert!(
            lab.len() <= 100,
            "more than 100 iPhones registered in a year"
        );
    };
    assert_eq!(
        refused.status,
        409,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    let e = &refused.json()["errors"][0];
    assert_eq!(e["code"], "ENTITY_ERROR");
    assert_eq!(e["title"], "There is a problem with the request entity");
    assert_eq!(
        e["detail"],
        "Your development team has reached the maximum number of registered iPhone devices."
    );
    // Exactly 100 iPhones were added in the year before the last one.
    let last: jiff::Timestamp = lab.last().unwrap()["attributes"]["addedDate"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let all = w
        .get("/v1/devices?filter[platform]=IOS&limit=200")
        .await
        .json();
    let this_year = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["attributes"]["deviceClass"] == "IPHONE")
        .filter(|d| {
            let t: jiff::Timestamp = d["attributes"]["addedDate"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            last.as_millisecond() - t.as_millisecond() < 365 * 86_400_000
        })
        .count();
    assert_eq!(this_year, 100);

    // Disabling a device does not give its slot back.
    let id = lab[0]["id"].as_str().unwrap();
    let off =
        json!({ "data": { "type": "devices", "id": id, "attributes": { "status": "DISABLED" } } });
    let r = w
        .call(
            "PATCH",
            &format!("/v1/devices/{id}"),
            Some(&w.token.clone()),
            Some(off),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["data"]["attributes"]["status"], "DISABLED");
    assert_eq!(register(500).await.status, 409);
    // Another class has its own 100: a Mac still registers.
    let mac = json!({ "data": { "type": "devices", "attributes": {
        "name": "Lab Mac", "udid": "00006030-001E19D83C42FFFF", "platform": "MAC_OS" } } });
    assert_eq!(post(&w, "/v1/devices", mac).await.status, 201);
    // A year later on the virtual clock the slots are back.
    w.app.store().advance_clock(366 * 86_400_000).await.unwrap();
    assert_eq!(register(501).await.status, 201);
}

#[tokio::test]
async fn s8_2_certificates_filter_by_serial_type_and_display_name() {
    let w = common::demo().await;
    let r = post(
        &w,
        "/v1/certificates",
        certificate_doc("DEVELOPMENT", &pem_csr()),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let created = r.json()["data"].clone();
    let serial = created["attributes"]["serialNumber"].as_str().unwrap();
    let ids = async |query: &str| {
        let r = w.get(&format!("/v1/certificates?{query}&limit=200")).await;
        assert_eq!(r.status, 200, "{query}");
        r.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(
        ids(&format!("filter[serialNumber]={serial}")).await,
        vec![id.clone()]
    );
    assert_eq!(
        ids("filter[displayName]=Created%20via%20API").await,
        vec![id.clone()]
    );
    let dev = ids("filter[certificateType]=DEVELOPMENT").await;
    assert!(
        dev.contains(&id) && dev.contains(&DEV_CERT.to_string()),
        "{dev:?}"
    );
    assert!(
        !ids("filter[certificateType]=DISTRIBUTION")
            .await
            .contains(&id)
    );
    // Revoked (deleted): gone from the list and from its own URL.
    let r = w
        .call(
            "DELETE",
            &format!("/v1/certificates/{id}"),
            Some(&w.token.clone()),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    assert!(
        ids(&format!("filter[serialNumber]={serial}"))
            .await
            .is_empty()
    );
    assert_eq!(w.get(&format!("/v1/certificates/{id}")).await.status, 404);
}
