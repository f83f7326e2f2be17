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

/// Base64 DER of a certificate with this common name and serial (hex), valid until `not_after_ms`.
pub fn issue(
    csr_base64: Option<&str>,
    common_name: &str,
    team_id: &str,
    serial_hex: &str,
    not_after_ms: i64,
) -> Option<String> {
    let issuer = issuer()?;
    let csr = csr_base64
        .and_then(|c| {
            STANDARD
                .decode(c.split_whitespace().collect::<String>())
                .ok()
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
    let day = super::date(not_after_ms);
    let ymd: Vec<i32> = day.split('-').filter_map(|p| p.parse().ok()).collect();
    let [y, mo, da] = ymd[..] else { return None };
    let mut params = CertificateParams::default();
    params.distinguished_name = dn;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.not_after = rcgen::date_time_ymd(y, mo as u8, da as u8);
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
            1_900_000_000_000,
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
}
