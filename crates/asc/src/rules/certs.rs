//! Signing certificates as Apple issues them for `POST /v1/certificates`: a real X.509
//! certificate for the CSR's public key (a fresh key when the CSR does not parse), issued by a
//! stand-in for Apple's Worldwide Developer Relations CA, so clients that parse
//! `certificateContent` (codemagic reads the subject's common name) get a real DER certificate.

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

/// Base64 DER of a certificate with this common name and serial (hex), valid from
/// `not_before_ms` until `not_after_ms`. The CSR may be PEM (codemagic-cli-tools sends its
/// `-----BEGIN CERTIFICATE REQUEST-----` text) or bare base64 DER.
pub fn issue(
    csr_base64: Option<&str>,
    common_name: &str,
    team_id: &str,
    serial_hex: &str,
    (not_before_ms, not_after_ms): (i64, i64),
) -> Option<String> {
    let issuer = issuer()?;
    let csr = csr_base64
        .and_then(|c| {
            let b64: String = c
                .lines()
                .filter(|l| !l.trim_start().starts_with("-----"))
                .flat_map(|l| l.split_whitespace())
                .collect();
            STANDARD.decode(b64).ok()
        })
        .and_then(|der| CertificateSigningRequestParams::from_der(&der.into()).ok());
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationalUnitName, team_id);
    dn.push(DnType::OrganizationName, "Crabapple Demo Team");
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

#[cfg(test)]
mod tests {
    #[test]
    fn issued_certificates_are_real_der_with_the_serial() {
        let b64 = super::issue(
            None,
            "iOS Development: Crabapple",
            "C7R4B9A2QP",
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
        assert!(text.contains("iOS Development: Crabapple"));
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
        let b64 = super::issue(
            Some(&csr),
            "Apple Development: Crabapple",
            "C7R4B9A2QP",
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
}
