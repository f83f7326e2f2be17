//! §1.8: App Store Server API tokens (In-App Purchase keys, `bid`, 60-minute lifetime).

use super::*;

// ---------------------------------------------------------------- §1.8 App Store Server API

pub(crate) fn sk_claims(f: &Fx) -> Value {
    let _ = f;
    json!({"iss": ISSUER, "iat": NOW, "exp": NOW + 300, "aud": "appstoreconnect-v1", "bid": "com.example.app"})
}

pub(crate) fn iap_token(f: &Fx, claims: Value) -> String {
    let header = json!({"alg": "ES256", "kid": f.iap.key_id, "typ": "JWT"});
    sign_jwt(&f.iap.pkcs8_pem, &header, &claims).unwrap()
}

#[test]
fn s1_8_minted_storekit_token_accepted() {
    let f = fx();
    let t = mint_storekit_token(
        &f.iap.pkcs8_pem,
        &f.iap.key_id,
        ISSUER,
        "com.example.app",
        NOW,
        3600,
    )
    .unwrap();
    let p = f.storekit(&t).unwrap();
    assert_eq!(p.bundle_id, "com.example.app");
    assert_eq!(p.issuer, ISSUER);
    assert_eq!(p.key.kind, KeyKind::InAppPurchase);
    assert_eq!(p.exp, NOW + 3600);
}

#[test]
fn s1_8_storekit_no_iat_python_style_accepted() {
    // Apple Python library 3.1.2: bid, iss, aud, exp = now + 5 min, no iat (clients §3.1).
    let f = fx();
    let mut c = sk_claims(&f);
    c.as_object_mut().unwrap().remove("iat");
    f.storekit(&iap_token(&f, c.clone())).unwrap();
    c["exp"] = json!(NOW + 3601);
    rejected(f.storekit(&iap_token(&f, c)), "exp − now");
}

#[test]
fn s1_8_storekit_missing_bid_rejected() {
    let f = fx();
    let mut c = sk_claims(&f);
    c.as_object_mut().unwrap().remove("bid");
    rejected(f.storekit(&iap_token(&f, c.clone())), "no bid");
    c["bid"] = json!("");
    rejected(f.storekit(&iap_token(&f, c)), "no bid");
}

#[test]
fn s1_8_storekit_missing_or_wrong_iss_rejected() {
    let f = fx();
    let mut c = sk_claims(&f);
    c.as_object_mut().unwrap().remove("iss");
    rejected(f.storekit(&iap_token(&f, c.clone())), "no iss");
    c["sub"] = json!("user");
    rejected(f.storekit(&iap_token(&f, c.clone())), "no iss");
    c["iss"] = json!("00000000-0000-0000-0000-000000000000");
    rejected(f.storekit(&iap_token(&f, c)), "belongs to issuer");
}

#[test]
fn s1_8_storekit_lifetime_3601_rejected_3600_accepted() {
    let f = fx();
    let mut c = sk_claims(&f);
    c["exp"] = json!(NOW + 3601);
    rejected(f.storekit(&iap_token(&f, c.clone())), "lifetime is 3601 s");
    c["exp"] = json!(NOW + 3600);
    f.storekit(&iap_token(&f, c)).unwrap();
}

#[test]
fn s1_8_storekit_asc_keys_rejected() {
    let f = fx();
    let t = mint_storekit_token(
        &f.team.pkcs8_pem,
        &f.team.key_id,
        ISSUER,
        "com.example.app",
        NOW,
        300,
    )
    .unwrap();
    let reason = rejected(f.storekit(&t), "needs an In-App Purchase key");
    assert!(reason.contains("team API key"), "{reason}");
    let t = mint_storekit_token(
        &f.indiv.pkcs8_pem,
        &f.indiv.key_id,
        ISSUER,
        "com.example.app",
        NOW,
        300,
    )
    .unwrap();
    rejected(f.storekit(&t), "individual API key");
}

#[test]
fn s1_8_storekit_aud_exp_and_revocation() {
    let mut f = fx();
    let mut c = sk_claims(&f);
    c["aud"] = json!("promotional-offer");
    rejected(
        f.storekit(&iap_token(&f, c)),
        "expected \"appstoreconnect-v1\"",
    );
    let mut c = sk_claims(&f);
    c["iat"] = json!(NOW - 400);
    c["exp"] = json!(NOW - 100);
    rejected(f.storekit(&iap_token(&f, c)), "token expired");
    let t = iap_token(&f, sk_claims(&f));
    f.keys.get_mut(&f.iap.key_id).unwrap().revoked = true;
    rejected(f.storekit(&t), "revoked");
}

#[test]
fn s1_8_storekit_der_signature_rejected() {
    let f = fx();
    let t = iap_token(&f, sk_claims(&f));
    let raw = URL_SAFE_NO_PAD
        .decode(t.rsplit_once('.').unwrap().1)
        .unwrap();
    rejected(
        f.storekit(&replace_signature(&t, &to_der(&raw))),
        "raw 64-byte r||s",
    );
}
