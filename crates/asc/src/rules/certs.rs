//! Signing certificates as Apple issues them for `POST /v1/certificates`: the CSR verified
//! (PKCS#10, its signature checked), then a real X.509 certificate for the CSR's public key with
//! Apple's subject layout and validity per type, issued by a stand-in for Apple's Worldwide
//! Developer Relations CA, so clients that parse `certificateContent` (codemagic reads the
//! subject's common name, exports a .p12 with the CSR's key) get a real DER certificate.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, IsCa, Issuer, KeyPair, SerialNumber,
};
use std::sync::OnceLock;

/// The issuing CA, made once per process (certificates are checked by clients for shape, not
/// chained to a trust store).
fn issuer() -> Option<&'static Issuer<'static, KeyPair>> {
    static ISSUER: OnceLock<Option<Issuer<'static, KeyPair>>> = OnceLock::new();
    ISSUER
        .get_or_init(|| {
            let key = KeyPair::generate().ok()?;
            let mut p = CertificateParams::default();
            let mut dn = DistinguishedName::new();
            dn.push(
                DnType::CommonName,
                "Crabapple Worldwide Developer Relations Certification Authority",
            );
            dn.push(DnType::OrganizationName, "crabapple");
            dn.push(DnType::CountryName, "US");
            p.distinguished_name = dn;
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            Some(Issuer::new(p, key))
        })
        .as_ref()
}

/// A `csrContent` that is not a PKCS#10 request signed with its own key (§8.2: the certificate
/// is made for the CSR's key, so Apple checks the request before it issues anything).
#[derive(Debug)]
pub struct InvalidCsr;

/// The request in `csrContent`, verified: PEM (codemagic-cli-tools sends its
/// `-----BEGIN CERTIFICATE REQUEST-----` text) or bare base64 DER, parsed as PKCS#10 and its
/// signature checked with the public key it carries.
pub fn verified_csr(content: &str) -> Result<CertificateSigningRequestParams, InvalidCsr> {
    let b64: String = content
        .lines()
        .filter(|l| !l.trim_start().starts_with("-----"))
        .flat_map(|l| l.split_whitespace())
        .collect();
    let der = STANDARD.decode(b64).map_err(|_| InvalidCsr)?;
    // rcgen parses with x509-parser and verifies the request's signature.
    CertificateSigningRequestParams::from_der(&der.into()).map_err(|_| InvalidCsr)
}

/// Who a new certificate names, as Apple lays out its subjects: development certificates name a
/// person (created through the API, Apple's person is "Created via API", its id in
/// parentheses: "Apple Development: Created via API (PD8PQZDKG4)", seen in public build
/// settings), the others the team ("Apple Distribution: Team Name (TEAMID)"). The subject is
/// `UID=…, CN=…, OU=TEAMID, O=team name, C=US`.
pub struct Identity {
    /// The resource's `name`: the common name without the id in parentheses.
    pub name: String,
    /// The resource's `displayName`: the person or team.
    pub display_name: String,
    pub common_name: String,
    pub uid: String,
    pub team_id: String,
    pub team_name: String,
}

/// The identity of a new certificate of type `ty`; `person_id` is the id Apple gives the
/// person of a development certificate.
pub fn identity(ty: &str, team_id: &str, team_name: &str, person_id: &str) -> Identity {
    let title = certificate_title(ty);
    let (who, uid) = if is_development(ty) {
        ("Created via API", person_id)
    } else {
        (team_name, team_id)
    };
    Identity {
        name: format!("{title}: {who}"),
        display_name: who.to_string(),
        common_name: format!("{title}: {who} ({uid})"),
        uid: uid.to_string(),
        team_id: team_id.to_string(),
        team_name: team_name.to_string(),
    }
}

fn is_development(ty: &str) -> bool {
    matches!(
        ty,
        "DEVELOPMENT" | "IOS_DEVELOPMENT" | "MAC_APP_DEVELOPMENT"
    )
}

/// The common-name prefix Apple gives each certificate type.
pub fn certificate_title(ty: &str) -> &'static str {
    match ty {
        "IOS_DEVELOPMENT" => "iPhone Developer",
        "IOS_DISTRIBUTION" => "iPhone Distribution",
        "DEVELOPMENT" => "Apple Development",
        "DISTRIBUTION" => "Apple Distribution",
        "MAC_APP_DISTRIBUTION" => "3rd Party Mac Developer Application",
        "MAC_INSTALLER_DISTRIBUTION" => "3rd Party Mac Developer Installer",
        "MAC_APP_DEVELOPMENT" => "Mac Developer",
        "PASS_TYPE_ID" | "PASS_TYPE_ID_WITH_NFC" => "Pass Type ID",
        "APPLE_PAY" | "APPLE_PAY_RSA" => "Apple Pay Payment Processing",
        "APPLE_PAY_MERCHANT_IDENTITY" => "Apple Pay Merchant Identity",
        "APPLE_PAY_PSP_IDENTITY" => "Apple Pay Platform Integrator Identity",
        "IDENTITY_ACCESS" => "Identity Access",
        _ => "Apple Certificate",
    }
}

/// When a certificate of type `ty` issued at `now_ms` expires: Apple Pay certificates after 25
/// months (Apple's Apple Pay setup guide: "the certificate expires every 25 months"), every
/// other type after one year.
pub fn expiration_ms(ty: &str, now_ms: i64) -> i64 {
    let months = if ty.starts_with("APPLE_PAY") { 25 } else { 12 };
    jiff::Timestamp::from_millisecond(now_ms)
        .ok()
        .and_then(|t| {
            t.to_zoned_datetime(jiff::tz::TimeZone::UTC)
                .checked_add(jiff::Span::new().months(months))
                .ok()
        })
        .map_or(now_ms + 365 * 86_400_000, |z| {
            z.timestamp().as_millisecond()
        })
}

/// Base64 DER of a certificate for `who` with this serial (hex), valid from `not_before_ms`
/// until `not_after_ms`, for the key of `csr` (a fresh key when there is none: the demo world).
pub fn issue(
    csr: Option<CertificateSigningRequestParams>,
    who: &Identity,
    serial_hex: &str,
    (not_before_ms, not_after_ms): (i64, i64),
) -> Option<String> {
    let issuer = issuer()?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CustomDnType(USER_ID.to_vec()), who.uid.as_str());
    dn.push(DnType::CommonName, who.common_name.as_str());
    dn.push(DnType::OrganizationalUnitName, who.team_id.as_str());
    dn.push(DnType::OrganizationName, who.team_name.as_str());
    dn.push(DnType::CountryName, "US");
    let serial = (0..serial_hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&serial_hex[2 * i..2 * i + 2], 16).ok())
        .collect::<Vec<u8>>();
    let day = |ms: i64| {
        let ymd: Vec<i32> = super::date(ms)
            .split('-')
            .filter_map(|p| p.parse().ok())
            .collect();
        match ymd[..] {
            [y, mo, da] => Some(rcgen::date_time_ymd(y, mo as u8, da as u8)),
            _ => None,
        }
    };
    let mut params = CertificateParams::default();
    params.distinguished_name = dn;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.not_before = day(not_before_ms)?;
    params.not_after = day(not_after_ms)?;
    let der = match csr {
        Some(mut c) => {
            c.params = params;
            c.signed_by(issuer).ok()?.der().to_vec()
        }
        None => {
            let key = KeyPair::generate().ok()?;
            params.signed_by(&key, issuer).ok()?.der().to_vec()
        }
    };
    Some(STANDARD.encode(der))
}

/// The `UID` attribute (0.9.2342.19200300.100.1.1) Apple's certificate subjects open with.
const USER_ID: &[u64] = &[0, 9, 2342, 19200300, 100, 1, 1];

#[cfg(test)]
mod tests {
    #[test]
    fn issued_certificates_are_real_der_with_the_serial() {
        let who = super::identity("IOS_DEVELOPMENT", "C7R4B9A2QP", "Crabapple", "1704E7E7C4");
        let b64 = super::issue(
            None,
            &who,
            "1704E7E7C4990EC5",
            (1_800_000_000_000, 1_900_000_000_000),
        )
        .unwrap();
        use base64::Engine as _;
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(der[0], 0x30, "a DER SEQUENCE");
        let text = String::from_utf8_lossy(&der);
        assert!(text.contains("iPhone Developer: Created via API (1704E7E7C4)"));
    }

    #[test]
    fn a_pem_csr_gets_a_certificate_for_its_own_key() {
        use base64::Engine as _;
        let key = rcgen::KeyPair::generate().unwrap();
        let csr = rcgen::CertificateParams::default()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap();
        assert!(csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
        let who = super::identity("DEVELOPMENT", "C7R4B9A2QP", "Crabapple", "0A0A0A0A0A");
        let csr = super::verified_csr(&csr).unwrap();
        let b64 = super::issue(
            Some(csr),
            &who,
            "0A",
            (1_800_000_000_000, 1_900_000_000_000),
        )
        .unwrap();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_eq!(
            cert.public_key().subject_public_key.data.as_ref(),
            key.public_key_raw()
        );
        assert_eq!(cert.validity().not_before.timestamp(), 1_799_971_200);
    }

    /// A PEM CSR made with rcgen for a fresh key.
    fn pem_csr() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        rcgen::CertificateParams::default()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap()
    }

    #[test]
    fn s8_2_csr_with_a_broken_signature_or_no_pkcs10_is_refused() {
        use base64::Engine as _;
        assert!(super::verified_csr(&pem_csr()).is_ok());
        assert!(super::verified_csr("not a CSR").is_err());
        assert!(
            super::verified_csr("bm90IGEgQ1NS").is_err(),
            "base64, not DER"
        );
        // The same request with one byte of its signature (the DER's last byte) changed.
        let b64: String = pem_csr()
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let mut der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        *der.last_mut().unwrap() ^= 0x01;
        let tampered = base64::engine::general_purpose::STANDARD.encode(der);
        assert!(super::verified_csr(&tampered).is_err());
    }

    #[test]
    fn s8_2_subject_layout_person_for_development_team_for_distribution() {
        use base64::Engine as _;
        // x509-parser spells the UID attribute "uid".
        let subject = |ty: &str| {
            let who = super::identity(ty, "C7R4B9A2QP", "Crabapple Demo Team", "PD8PQZDKG4");
            let b64 =
                super::issue(None, &who, "0B", (1_800_000_000_000, 1_831_536_000_000)).unwrap();
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap();
            let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
            (who.name, who.display_name, cert.subject().to_string())
        };
        assert_eq!(
            subject("DEVELOPMENT"),
            (
                "Apple Development: Created via API".into(),
                "Created via API".into(),
                "uid=PD8PQZDKG4, CN=Apple Development: Created via API (PD8PQZDKG4), OU=C7R4B9A2QP, O=Crabapple Demo Team, C=US".into()
            )
        );
        assert_eq!(
            subject("DISTRIBUTION"),
            (
                "Apple Distribution: Crabapple Demo Team".into(),
                "Crabapple Demo Team".into(),
                "uid=C7R4B9A2QP, CN=Apple Distribution: Crabapple Demo Team (C7R4B9A2QP), OU=C7R4B9A2QP, O=Crabapple Demo Team, C=US".into()
            )
        );
        assert_eq!(
            subject("MAC_INSTALLER_DISTRIBUTION").0,
            "3rd Party Mac Developer Installer: Crabapple Demo Team"
        );
        assert_eq!(
            subject("IOS_DEVELOPMENT").0,
            "iPhone Developer: Created via API"
        );
    }

    #[test]
    fn s8_2_validity_one_year_and_25_months_for_apple_pay() {
        // 2027-01-15T00:00:00Z
        let now = 1_799_971_200_000;
        let date = |ms| super::super::date(ms);
        assert_eq!(
            date(super::expiration_ms("DISTRIBUTION", now)),
            "2028-01-15"
        );
        assert_eq!(date(super::expiration_ms("DEVELOPMENT", now)), "2028-01-15");
        assert_eq!(date(super::expiration_ms("APPLE_PAY", now)), "2029-02-15");
        assert_eq!(
            date(super::expiration_ms("APPLE_PAY_MERCHANT_IDENTITY", now)),
            "2029-02-15"
        );
    }
}
