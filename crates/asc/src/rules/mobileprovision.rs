//! `profileContent` as Apple delivers it: a `.mobileprovision`, i.e. a CMS (PKCS#7) SignedData in
//! DER whose encapsulated content is an XML property list (AppIDName, ApplicationIdentifierPrefix,
//! CreationDate, Platform, DeveloperCertificates, Entitlements, ExpirationDate, Name,
//! ProvisionedDevices, TeamIdentifier, TeamName, TimeToLive, UUID, Version). crabapple signs it
//! with the data directory's signing PKI (the one that signs App Store Server API payloads), so
//! `openssl cms -verify -noverify -inform DER`, `security cms -D` and clients that read the plist
//! (codemagic-cli-tools) take it as Apple's.

use crabapple_storekit::pki::Pki;
use std::fmt::Write as _;

/// What goes into a profile's property list.
#[derive(Debug, Clone, Default)]
pub struct ProfilePlist {
    pub name: String,
    pub uuid: String,
    /// The spec's `profileType` (IOS_APP_DEVELOPMENT, MAC_APP_STORE…).
    pub profile_type: String,
    /// The bundle ID's `name` and `identifier` (e.g. `com.example.app`, or `com.example.*`).
    pub app_id_name: String,
    pub bundle_identifier: String,
    /// The team's App ID prefix (the bundle ID's `seedId`).
    pub seed_id: String,
    pub team_id: String,
    pub team_name: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    /// DER of each certificate the profile lets sign.
    pub certificates: Vec<Vec<u8>>,
    /// UDIDs of the provisioned devices (development and ad hoc profiles).
    pub devices: Vec<String>,
}

impl ProfilePlist {
    fn is_mac(&self) -> bool {
        self.profile_type.starts_with("MAC_")
    }

    fn is_development(&self) -> bool {
        self.profile_type.ends_with("_DEVELOPMENT")
    }

    /// The property list, in the key order and formatting of Apple's profiles.
    pub fn to_xml(&self) -> String {
        let mut x = String::from(concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" ",
            "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n",
            "<plist version=\"1.0\">\n<dict>\n"
        ));
        let key = |x: &mut String, k: &str| {
            let _ = writeln!(x, "\t<key>{k}</key>");
        };
        let string = |x: &mut String, ind: &str, s: &str| {
            let _ = writeln!(x, "{ind}<string>{}</string>", escape(s));
        };
        key(&mut x, "AppIDName");
        string(&mut x, "\t", &self.app_id_name);
        key(&mut x, "ApplicationIdentifierPrefix");
        x.push_str("\t<array>\n");
        string(&mut x, "\t\t", &self.seed_id);
        x.push_str("\t</array>\n");
        key(&mut x, "CreationDate");
        let _ = writeln!(x, "\t<date>{}</date>", super::rfc3339(self.created_ms));
        key(&mut x, "Platform");
        x.push_str("\t<array>\n");
        for p in self.platforms() {
            string(&mut x, "\t\t", p);
        }
        x.push_str("\t</array>\n");
        key(&mut x, "IsXcodeManaged");
        x.push_str("\t<false/>\n");
        key(&mut x, "DeveloperCertificates");
        x.push_str("\t<array>\n");
        for der in &self.certificates {
            let _ = writeln!(x, "\t\t<data>{}</data>", b64(der));
        }
        x.push_str("\t</array>\n");
        key(&mut x, "Entitlements");
        x.push_str("\t<dict>\n");
        let app_id = format!("{}.{}", self.seed_id, self.bundle_identifier);
        let ent_key = |x: &mut String, k: &str| {
            let _ = writeln!(x, "\t\t<key>{k}</key>");
        };
        if self.is_mac() {
            ent_key(&mut x, "com.apple.application-identifier");
        } else {
            ent_key(&mut x, "application-identifier");
        }
        string(&mut x, "\t\t", &app_id);
        ent_key(&mut x, "com.apple.developer.team-identifier");
        string(&mut x, "\t\t", &self.team_id);
        ent_key(
            &mut x,
            if self.is_mac() {
                "com.apple.security.get-task-allow"
            } else {
                "get-task-allow"
            },
        );
        x.push_str(if self.is_development() {
            "\t\t<true/>\n"
        } else {
            "\t\t<false/>\n"
        });
        ent_key(&mut x, "keychain-access-groups");
        x.push_str("\t\t<array>\n");
        string(&mut x, "\t\t\t", &format!("{}.*", self.seed_id));
        x.push_str("\t\t</array>\n\t</dict>\n");
        key(&mut x, "ExpirationDate");
        let _ = writeln!(x, "\t<date>{}</date>", super::rfc3339(self.expires_ms));
        key(&mut x, "Name");
        string(&mut x, "\t", &self.name);
        if self.profile_type.ends_with("_INHOUSE") || self.profile_type.ends_with("_DIRECT") {
            key(&mut x, "ProvisionsAllDevices");
            x.push_str("\t<true/>\n");
        } else if !self.devices.is_empty() {
            key(&mut x, "ProvisionedDevices");
            x.push_str("\t<array>\n");
            for d in &self.devices {
                string(&mut x, "\t\t", d);
            }
            x.push_str("\t</array>\n");
        }
        key(&mut x, "TeamIdentifier");
        x.push_str("\t<array>\n");
        string(&mut x, "\t\t", &self.team_id);
        x.push_str("\t</array>\n");
        key(&mut x, "TeamName");
        string(&mut x, "\t", &self.team_name);
        key(&mut x, "TimeToLive");
        let days = (self.expires_ms - self.created_ms).max(0) / 86_400_000;
        let _ = writeln!(x, "\t<integer>{days}</integer>");
        key(&mut x, "UUID");
        string(&mut x, "\t", &self.uuid);
        key(&mut x, "Version");
        x.push_str("\t<integer>1</integer>\n</dict>\n</plist>\n");
        x
    }

    /// Apple's `Platform` array for the profile's platform.
    fn platforms(&self) -> &'static [&'static str] {
        if self.is_mac() {
            &["OSX"]
        } else if self.profile_type.starts_with("TVOS_") {
            &["tvOS"]
        } else {
            &["iOS", "xrOS", "visionOS"]
        }
    }

    /// The signed profile (CMS SignedData, DER), signed by `pki`'s leaf at `signed_ms`.
    pub fn sign(&self, pki: &Pki, signed_ms: i64) -> Vec<u8> {
        cms_signed_data(self.to_xml().as_bytes(), pki, signed_ms)
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn b64(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

// ------------------------------------------------------------------------------- DER, CMS
// RFC 5652 SignedData with one SignerInfo (IssuerAndSerialNumber, SHA-256, ecdsa-with-SHA256) and
// the signed attributes contentType, signingTime and messageDigest, as Apple's profiles carry.

/// id-signedData 1.2.840.113549.1.7.2
const OID_SIGNED_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];
/// id-data 1.2.840.113549.1.7.1
const OID_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01];
/// id-sha256 2.16.840.1.101.3.4.2.1
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
/// ecdsa-with-SHA256 1.2.840.10045.4.3.2
const OID_ECDSA_SHA256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02];
/// id-contentType, id-messageDigest, id-signingTime: 1.2.840.113549.1.9.{3,4,5}
const OID_CONTENT_TYPE: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x03];
const OID_MESSAGE_DIGEST: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x04];
const OID_SIGNING_TIME: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x05];

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// A DER SET OF: elements in ascending order of their encodings (X.690 §11.6).
fn set_of(tag: u8, mut parts: Vec<Vec<u8>>) -> Vec<u8> {
    parts.sort();
    tlv(tag, &parts.concat())
}

fn oid(arcs: &[u8]) -> Vec<u8> {
    tlv(0x06, arcs)
}

/// An INTEGER from unsigned big-endian bytes.
fn uint(bytes: &[u8]) -> Vec<u8> {
    let mut b: Vec<u8> = bytes.iter().copied().skip_while(|x| *x == 0).collect();
    if b.first().is_none_or(|x| x & 0x80 != 0) {
        b.insert(0, 0);
    }
    tlv(0x02, &b)
}

fn algorithm(o: &[u8], null_params: bool) -> Vec<u8> {
    if null_params {
        seq(&[&oid(o), &[0x05, 0x00]])
    } else {
        seq(&[&oid(o)])
    }
}

fn utc_time(ms: i64) -> Vec<u8> {
    let t = jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    tlv(0x17, t.strftime("%y%m%d%H%M%SZ").to_string().as_bytes())
}

fn attribute(o: &[u8], value: Vec<u8>) -> Vec<u8> {
    seq(&[&oid(o), &set_of(0x31, vec![value])])
}

/// CMS SignedData (DER) of `content` signed by the leaf of `pki`, with `[leaf, intermediate,
/// root]` in `certificates`.
pub fn cms_signed_data(content: &[u8], pki: &Pki, signed_ms: i64) -> Vec<u8> {
    let [leaf, intermediate, root] = pki.chain_der();
    let (issuer, serial) = match x509_parser::parse_x509_certificate(leaf) {
        Ok((_, c)) => (
            c.tbs_certificate.issuer.as_raw().to_vec(),
            tlv(0x02, c.tbs_certificate.raw_serial()),
        ),
        Err(_) => (seq(&[]), uint(&[1])),
    };
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, content);
    let attrs = vec![
        attribute(OID_CONTENT_TYPE, oid(OID_DATA)),
        attribute(OID_SIGNING_TIME, utc_time(signed_ms)),
        attribute(OID_MESSAGE_DIGEST, tlv(0x04, digest.as_ref())),
    ];
    // RFC 5652 §5.4: the signature covers the attributes' DER with the SET OF tag.
    let to_sign = set_of(0x31, attrs.clone());
    let raw = pki.sign_bytes(&to_sign);
    let (r, s) = raw.split_at(raw.len() / 2);
    let signature = seq(&[&uint(r), &uint(s)]);
    let signer_info = seq(&[
        &uint(&[1]),
        &seq(&[&issuer, &serial]),
        &algorithm(OID_SHA256, true),
        &set_of(0xA0, attrs),
        &algorithm(OID_ECDSA_SHA256, false),
        &tlv(0x04, &signature),
    ]);
    let signed_data = seq(&[
        &uint(&[1]),
        &set_of(0x31, vec![algorithm(OID_SHA256, true)]),
        &seq(&[&oid(OID_DATA), &tlv(0xA0, &tlv(0x04, content))]),
        &tlv(0xA0, &[leaf, intermediate, root].concat()),
        &set_of(0x31, vec![signer_info]),
    ]);
    seq(&[&oid(OID_SIGNED_DATA), &tlv(0xA0, &signed_data)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_and_integers() {
        assert_eq!(tlv(0x04, &[7; 3]), [0x04, 3, 7, 7, 7]);
        let long = tlv(0x04, &[0; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2C]);
        assert_eq!(uint(&[0x00, 0x80]), [0x02, 2, 0x00, 0x80]);
        assert_eq!(uint(&[0x00, 0x00, 0x05]), [0x02, 1, 0x05]);
        assert_eq!(uint(&[]), [0x02, 1, 0x00]);
    }

    #[test]
    fn plist_has_apples_keys_in_order() {
        let p = ProfilePlist {
            name: "A & B".into(),
            uuid: "u".into(),
            profile_type: "IOS_APP_DEVELOPMENT".into(),
            app_id_name: "App".into(),
            bundle_identifier: "com.example.app".into(),
            seed_id: "SEED123456".into(),
            team_id: "TEAM123456".into(),
            team_name: "Team".into(),
            created_ms: 0,
            expires_ms: 365 * 86_400_000,
            certificates: vec![vec![1, 2, 3]],
            devices: vec!["udid-1".into()],
        };
        let x = p.to_xml();
        let keys: Vec<&str> = x
            .lines()
            .filter(|l| l.starts_with("\t<key>"))
            .map(|l| {
                l.trim()
                    .trim_start_matches("<key>")
                    .trim_end_matches("</key>")
            })
            .collect();
        assert_eq!(
            keys,
            [
                "AppIDName",
                "ApplicationIdentifierPrefix",
                "CreationDate",
                "Platform",
                "IsXcodeManaged",
                "DeveloperCertificates",
                "Entitlements",
                "ExpirationDate",
                "Name",
                "ProvisionedDevices",
                "TeamIdentifier",
                "TeamName",
                "TimeToLive",
                "UUID",
                "Version"
            ]
        );
        assert!(x.contains("<string>SEED123456.com.example.app</string>"));
        assert!(x.contains("<string>A &amp; B</string>"));
        assert!(x.contains("<data>AQID</data>"));
        assert!(x.contains("<integer>365</integer>"));
    }
}
