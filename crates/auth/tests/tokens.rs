//! Token rules end to end: keys made with `generate_key`, tokens with `mint_*` or
//! crafted with `sign_jwt`. Test names carry the apple-semantics.md section.

#[path = "tokens/storekit.rs"]
mod storekit;
use storekit::{iap_token, sk_claims};

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use crabapple_auth::*;
use serde_json::{Value, json};

const ISSUER: &str = "57246542-96fe-1a63-e053-0824d011072a";
const NOW: i64 = 1_760_000_000;

struct Fx {
    team: GeneratedKey,
    indiv: GeneratedKey,
    iap: GeneratedKey,
    keys: HashMap<String, ApiKey>,
}

fn fx() -> Fx {
    let team = generate_key(KeyKind::Team);
    let indiv = generate_key(KeyKind::Individual);
    let iap = generate_key(KeyKind::InAppPurchase);
    let mut keys = HashMap::new();
    keys.insert(
        team.key_id.clone(),
        team.to_api_key(ISSUER, &["ADMIN"], "CI"),
    );
    let mut individual = indiv.to_api_key(ISSUER, &["DEVELOPER"], "Jane's key");
    individual.user_id = Some("user-1".into());
    keys.insert(indiv.key_id.clone(), individual);
    keys.insert(iap.key_id.clone(), iap.to_api_key(ISSUER, &[], "IAP"));
    Fx {
        team,
        indiv,
        iap,
        keys,
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

const NO_QUERY: &[(String, String)] = &[];

fn get(path: &str) -> RequestTarget<'_> {
    RequestTarget {
        method: "GET",
        path,
        query: NO_QUERY,
    }
}

impl Fx {
    /// A team-key token with the given claims (header alg/kid/typ standard).
    fn team_token(&self, claims: Value) -> String {
        let header = json!({"alg": "ES256", "kid": self.team.key_id, "typ": "JWT"});
        sign_jwt(&self.team.pkcs8_pem, &header, &claims).unwrap()
    }

    fn asc(&self, token: &str, target: &RequestTarget<'_>) -> Result<Principal, AuthError> {
        verify_asc(Some(&bearer(token)), target, NOW, &self.keys)
    }

    fn asc_get(&self, token: &str) -> Result<Principal, AuthError> {
        self.asc(token, &get("/v1/apps"))
    }

    fn storekit(&self, token: &str) -> Result<StorekitPrincipal, AuthError> {
        verify_storekit(Some(&bearer(token)), NOW, &self.keys)
    }
}

#[track_caller]
fn rejected<T: std::fmt::Debug>(r: Result<T, AuthError>, needle: &str) -> String {
    match r {
        Ok(v) => panic!("expected rejection containing {needle:?}, got Ok({v:?})"),
        Err(e) => {
            assert!(
                e.reason.contains(needle),
                "reason {:?} should contain {needle:?}",
                e.reason
            );
            e.reason
        }
    }
}

fn std_claims() -> Value {
    json!({"iss": ISSUER, "iat": NOW, "exp": NOW + 600, "aud": "appstoreconnect-v1"})
}

/// Raw r||s → DER `SEQUENCE { INTEGER r, INTEGER s }`.
fn to_der(sig: &[u8]) -> Vec<u8> {
    fn int(b: &[u8]) -> Vec<u8> {
        let mut v: Vec<u8> = b.iter().copied().skip_while(|x| *x == 0).collect();
        if v.is_empty() || v[0] & 0x80 != 0 {
            v.insert(0, 0);
        }
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    }
    let mut body = int(&sig[..32]);
    body.extend(int(&sig[32..]));
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

fn replace_signature(token: &str, sig: &[u8]) -> String {
    let (signed, _) = token.rsplit_once('.').unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig))
}

// ---------------------------------------------------------------- §1.1 header & transport

#[test]
fn s1_1_minted_team_token_accepted() {
    let f = fx();
    let t = mint_asc_token(
        &f.team.pkcs8_pem,
        &f.team.key_id,
        Some(ISSUER),
        NOW,
        1200,
        &[],
    )
    .unwrap();
    let p = f.asc_get(&t).unwrap();
    assert_eq!(p.key.key_id, f.team.key_id);
    assert_eq!(p.exp, NOW + 1200);
    assert_eq!(p.claims["iss"], ISSUER);
}

#[test]
fn s1_1_missing_header_rejected() {
    let f = fx();
    rejected(
        verify_asc(None, &get("/v1/apps"), NOW, &f.keys),
        "no Authorization header",
    );
}

#[test]
fn s1_1_not_bearer_rejected() {
    let f = fx();
    rejected(
        verify_asc(Some("Basic dXNlcjpwYXNz"), &get("/v1/apps"), NOW, &f.keys),
        "expected \"Bearer <JWT>\"",
    );
    rejected(
        verify_asc(Some("Bearer "), &get("/v1/apps"), NOW, &f.keys),
        "no token",
    );
}

#[test]
fn s1_1_garbage_rejected() {
    let f = fx();
    rejected(f.asc_get("garbage"), "not a JWT");
    rejected(f.asc_get("a.b.c.d"), "got 4");
    rejected(f.asc_get("!!!.e30.e30"), "header is not base64url");
    let not_json = format!("{}.e30.e30", URL_SAFE_NO_PAD.encode("hello"));
    rejected(f.asc_get(&not_json), "header is not JSON");
}

fn crafted_header(f: &Fx, header: Value) -> String {
    sign_jwt(&f.team.pkcs8_pem, &header, &std_claims()).unwrap()
}

#[test]
fn s1_1_alg_hs256_rejected() {
    let f = fx();
    let t = crafted_header(
        &f,
        json!({"alg": "HS256", "kid": f.team.key_id, "typ": "JWT"}),
    );
    rejected(
        f.asc_get(&t),
        "alg is \"HS256\"; App Store Connect accepts only ES256",
    );
}

#[test]
fn s1_1_alg_es384_rejected() {
    let f = fx();
    let t = crafted_header(&f, json!({"alg": "ES384", "kid": f.team.key_id}));
    rejected(f.asc_get(&t), "alg is \"ES384\"");
}

#[test]
fn s1_1_alg_none_rejected() {
    let f = fx();
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": f.team.key_id}).to_string());
    let claims = URL_SAFE_NO_PAD.encode(std_claims().to_string());
    rejected(f.asc_get(&format!("{header}.{claims}.")), "alg is \"none\"");
    let t = crafted_header(&f, json!({"kid": f.team.key_id}));
    rejected(f.asc_get(&t), "no alg");
}

#[test]
fn s1_1_missing_kid_rejected() {
    let f = fx();
    let t = crafted_header(&f, json!({"alg": "ES256", "typ": "JWT"}));
    rejected(f.asc_get(&t), "no kid");
    let t = crafted_header(&f, json!({"alg": "ES256", "kid": ""}));
    rejected(f.asc_get(&t), "kid is empty");
}

#[test]
fn s1_1_unknown_kid_rejected() {
    let f = fx();
    let t = crafted_header(&f, json!({"alg": "ES256", "kid": "ZZZZZZZZZZ"}));
    rejected(f.asc_get(&t), "\"ZZZZZZZZZZ\" names no known API key");
}

#[test]
fn s1_1_revoked_key_rejected() {
    let mut f = fx();
    f.keys.get_mut(&f.team.key_id).unwrap().revoked = true;
    let t = f.team_token(std_claims());
    rejected(f.asc_get(&t), "has been revoked");
}

#[test]
fn s1_1_typ_optional_spaceship_style_accepted() {
    // spaceship 2.146: header alg+kid only, claims iss/exp/aud (clients §3.1).
    let f = fx();
    let header = json!({"alg": "ES256", "kid": f.team.key_id});
    let claims = json!({"iss": ISSUER, "exp": NOW + 1200, "aud": "appstoreconnect-v1"});
    let t = sign_jwt(&f.team.pkcs8_pem, &header, &claims).unwrap();
    f.asc_get(&t).unwrap();
}

#[test]
fn s1_1_der_signature_rejected() {
    let f = fx();
    let t = f.team_token(std_claims());
    f.asc_get(&t).unwrap();
    let raw = URL_SAFE_NO_PAD
        .decode(t.rsplit_once('.').unwrap().1)
        .unwrap();
    assert_eq!(raw.len(), 64);
    let der = to_der(&raw);
    let reason = rejected(f.asc_get(&replace_signature(&t, &der)), "raw 64-byte r||s");
    assert!(reason.contains("DER"), "{reason}");
}

#[test]
fn s1_1_bad_signature_rejected() {
    let f = fx();
    // Signed by another key under the team key's kid.
    let other = generate_key(KeyKind::Team);
    let header = json!({"alg": "ES256", "kid": f.team.key_id});
    let t = sign_jwt(&other.pkcs8_pem, &header, &std_claims()).unwrap();
    rejected(f.asc_get(&t), "does not verify");
    // Payload changed after signing.
    let good = f.team_token(std_claims());
    let parts: Vec<&str> = good.split('.').collect();
    let mut claims = std_claims();
    claims["exp"] = json!(NOW + 900);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    rejected(f.asc_get(&forged), "does not verify");
}

// ---------------------------------------------------------------- §1.1 claims

#[test]
fn s1_1_wrong_aud_rejected() {
    let f = fx();
    let mut c = std_claims();
    c["aud"] = json!("apple-developer-enterprise-v1");
    rejected(
        f.asc_get(&f.team_token(c)),
        "expected \"appstoreconnect-v1\"",
    );
}

#[test]
fn s1_1_missing_aud_rejected() {
    let f = fx();
    let mut c = std_claims();
    c.as_object_mut().unwrap().remove("aud");
    rejected(f.asc_get(&f.team_token(c)), "no aud");
}

#[test]
fn s1_1_missing_exp_rejected() {
    let f = fx();
    let mut c = std_claims();
    c.as_object_mut().unwrap().remove("exp");
    rejected(f.asc_get(&f.team_token(c)), "no exp");
    let mut c = std_claims();
    c["exp"] = json!("tomorrow");
    rejected(f.asc_get(&f.team_token(c)), "expected a number");
}

#[test]
fn s1_1_expired_rejected_within_skew_accepted() {
    let f = fx();
    let skew = DEFAULT_CLOCK_SKEW_SECS;
    let mut c = std_claims();
    c["iat"] = json!(NOW - 1000);
    c["exp"] = json!(NOW - skew);
    rejected(f.asc_get(&f.team_token(c.clone())), "token expired");
    c["exp"] = json!(NOW - skew + 1);
    f.asc_get(&f.team_token(c)).unwrap();
}

#[test]
fn s1_1_lifetime_1201_rejected() {
    let f = fx();
    let mut c = std_claims();
    c["exp"] = json!(NOW + 1201);
    let reason = rejected(f.asc_get(&f.team_token(c)), "lifetime is 1201 s");
    assert!(reason.contains("at most 1200 s"), "{reason}");
}

#[test]
fn s1_1_lifetime_exactly_1200_accepted() {
    let f = fx();
    let mut c = std_claims();
    c["exp"] = json!(NOW + 1200);
    f.asc_get(&f.team_token(c)).unwrap();
    // iat in the past shortens what is left, but exp − iat is what counts.
    let mut c = std_claims();
    c["iat"] = json!(NOW - 100);
    c["exp"] = json!(NOW + 1100);
    f.asc_get(&f.team_token(c)).unwrap();
}

/// Modern fastlane mints `iat = now − 60`, `exp = now + 1200` (clients.md §3.1 token.rb row):
/// `exp − iat` is 1,260 s and Apple takes it. The tolerance is on `exp − iat` only; `exp − now`
/// stays strictly ≤ 1200 s (§1.1 clock-skew observation).
#[test]
fn s1_1_fastlane_backdated_iat_accepted_exp_minus_now_stays_strict() {
    let f = fx();
    let mut c = std_claims();
    c["iat"] = json!(NOW - 60);
    c["exp"] = json!(NOW + 1200);
    f.asc_get(&f.team_token(c)).unwrap();
    // 61 s of backdating is beyond the tolerance.
    let mut c = std_claims();
    c["iat"] = json!(NOW - 61);
    c["exp"] = json!(NOW + 1200);
    rejected(
        f.asc_get(&f.team_token(c)),
        "lifetime is 1261 s (exp − iat)",
    );
    // Backdated, but expiring more than 20 minutes from now.
    let mut c = std_claims();
    c["iat"] = json!(NOW - 30);
    c["exp"] = json!(NOW + 1201);
    rejected(
        f.asc_get(&f.team_token(c)),
        "lifetime is 1231 s (exp − iat)",
    );
}

#[test]
fn s1_1_no_iat_uses_exp_minus_now() {
    let f = fx();
    let mut c = std_claims();
    c.as_object_mut().unwrap().remove("iat");
    c["exp"] = json!(NOW + 1200);
    f.asc_get(&f.team_token(c.clone())).unwrap();
    c["exp"] = json!(NOW + 1201);
    rejected(f.asc_get(&f.team_token(c)), "exp − now");
}

#[test]
fn s1_1_iat_in_future_rejected() {
    let f = fx();
    let skew = DEFAULT_CLOCK_SKEW_SECS;
    let mut c = std_claims();
    c["iat"] = json!(NOW + skew + 1);
    c["exp"] = json!(NOW + 600);
    rejected(f.asc_get(&f.team_token(c.clone())), "in the future");
    c["iat"] = json!(NOW + skew);
    f.asc_get(&f.team_token(c)).unwrap();
}

#[test]
fn s1_1_numeric_dates_may_be_floats() {
    let f = fx();
    let mut c = std_claims();
    c["iat"] = json!(NOW as f64 + 0.25);
    c["exp"] = json!(NOW as f64 + 600.5);
    assert_eq!(f.asc_get(&f.team_token(c)).unwrap().exp, NOW + 600);
}

#[test]
fn s1_1_team_key_wrong_iss_rejected() {
    let f = fx();
    let mut c = std_claims();
    c["iss"] = json!("69a6de70-0000-47e3-e053-5b8c7c11a4d1");
    rejected(f.asc_get(&f.team_token(c)), "belongs to issuer");
}

#[test]
fn s1_2_team_key_with_sub_only_rejected() {
    let f = fx();
    let t = mint_asc_token(&f.team.pkcs8_pem, &f.team.key_id, None, NOW, 600, &[]).unwrap();
    let reason = rejected(f.asc_get(&t), "is a team key");
    assert!(reason.contains("iss"), "{reason}");
}

#[test]
fn s1_2_individual_key_with_iss_rejected() {
    let f = fx();
    let t = mint_asc_token(
        &f.indiv.pkcs8_pem,
        &f.indiv.key_id,
        Some(ISSUER),
        NOW,
        600,
        &[],
    )
    .unwrap();
    rejected(f.asc_get(&t), "individual keys don't use iss");
}

#[test]
fn s1_2_individual_key_sub_user_accepted() {
    let f = fx();
    let t = mint_asc_token(&f.indiv.pkcs8_pem, &f.indiv.key_id, None, NOW, 1200, &[]).unwrap();
    let p = f.asc_get(&t).unwrap();
    assert_eq!(p.key.kind, KeyKind::Individual);
    assert_eq!(p.key.user_id.as_deref(), Some("user-1"));
    assert_eq!(p.claims["sub"], "user");
    // The key's (user's) roles then apply: an individual key never reaches sales.
    rejected(
        check_role(&p, "GET", "/v1/salesReports"),
        "individual API keys",
    );
}

#[test]
fn s1_2_individual_key_wrong_or_missing_sub_rejected() {
    let f = fx();
    let header = json!({"alg": "ES256", "kid": f.indiv.key_id});
    let claims = json!({"sub": "me", "exp": NOW + 600, "aud": "appstoreconnect-v1"});
    let t = sign_jwt(&f.indiv.pkcs8_pem, &header, &claims).unwrap();
    rejected(f.asc_get(&t), "sub is \"me\"");
    let claims = json!({"exp": NOW + 600, "aud": "appstoreconnect-v1"});
    let t = sign_jwt(&f.indiv.pkcs8_pem, &header, &claims).unwrap();
    rejected(f.asc_get(&t), "no sub");
}

#[test]
fn s1_8_in_app_purchase_key_on_asc_rejected() {
    let f = fx();
    let t = mint_asc_token(&f.iap.pkcs8_pem, &f.iap.key_id, Some(ISSUER), NOW, 600, &[]).unwrap();
    rejected(f.asc_get(&t), "In-App Purchase key");
}

// ---------------------------------------------------------------- §1.4 scope

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
}

fn scoped(f: &Fx, scope: &[&str], ttl: i64) -> String {
    let scope: Vec<String> = scope.iter().map(|s| (*s).to_owned()).collect();
    mint_asc_token(
        &f.team.pkcs8_pem,
        &f.team.key_id,
        Some(ISSUER),
        NOW,
        ttl,
        &scope,
    )
    .unwrap()
}

#[test]
fn s1_4_scope_query_order_insensitive_limit_cursor_sort_ignored() {
    let f = fx();
    let t = scoped(
        &f,
        &["GET /v1/apps?filter[platform]=IOS&fields[apps]=name,bundleId"],
        600,
    );
    let q = pairs(&[
        ("limit", "200"),
        ("fields[apps]", "name,bundleId"),
        ("sort", "name"),
        ("filter[platform]", "IOS"),
        ("cursor", "eyJvIjoyMDB9"),
    ]);
    let target = RequestTarget {
        method: "GET",
        path: "/v1/apps",
        query: &q,
    };
    let p = f.asc(&t, &target).unwrap();
    assert_eq!(
        p.claims["scope"][0],
        "GET /v1/apps?filter[platform]=IOS&fields[apps]=name,bundleId"
    );
}

/// Issue 8: a scope entry that writes a space as `+` (form encoding, as clients do) matches the
/// same request as one that writes `%20`, and a request whose query says either (the server
/// decodes `+` in request queries too) — the equivalence table.
#[test]
fn s1_4_scope_query_plus_is_a_space_like_in_requests() {
    let f = fx();
    let request = pairs(&[("filter[name]", "Crabapple Notes")]);
    for entry in [
        "GET /v1/apps?filter[name]=Crabapple+Notes",
        "GET /v1/apps?filter[name]=Crabapple%20Notes",
        "GET /v1/apps?filter%5Bname%5D=Crabapple+Notes",
    ] {
        let t = scoped(&f, &[entry], 600);
        let target = RequestTarget {
            method: "GET",
            path: "/v1/apps",
            query: &request,
        };
        f.asc(&t, &target)
            .unwrap_or_else(|e| panic!("{entry}: {}", e.reason));
    }
    // A literal plus is written %2B and stays a plus.
    let t = scoped(&f, &["GET /v1/apps?filter[name]=C%2B%2B"], 600);
    let plus = pairs(&[("filter[name]", "C++")]);
    let target = RequestTarget {
        method: "GET",
        path: "/v1/apps",
        query: &plus,
    };
    f.asc(&t, &target).unwrap();
}

#[test]
fn s1_4_scope_mismatch_rejected_naming_closest_entry() {
    let f = fx();
    let t = scoped(
        &f,
        &["GET /v1/users", "GET /v1/apps?filter[platform]=IOS"],
        600,
    );
    let q = pairs(&[("filter[platform]", "MAC_OS")]);
    let target = RequestTarget {
        method: "GET",
        path: "/v1/apps",
        query: &q,
    };
    let reason = rejected(
        f.asc(&t, &target),
        "closest entry \"GET /v1/apps?filter[platform]=IOS\"",
    );
    assert!(reason.contains("query differs"), "{reason}");
    let post = RequestTarget {
        method: "POST",
        path: "/v1/users",
        query: NO_QUERY,
    };
    rejected(f.asc(&t, &post), "method is POST");
    rejected(
        f.asc(&t, &get("/v1/builds")),
        "no scope entry matches GET /v1/builds",
    );
}

#[test]
fn s1_4_versionless_scope_entry_accepted() {
    let f = fx();
    let t = scoped(&f, &["GET /builds/42/app"], 600);
    f.asc(&t, &get("/v1/builds/42/app")).unwrap();
    rejected(
        f.asc(&t, &get("/v1/builds/43/app")),
        "path /builds/43/app differs",
    );
}

#[test]
fn s1_4_malformed_scope_rejected() {
    let f = fx();
    let mut c = std_claims();
    c["scope"] = json!("GET /v1/apps");
    rejected(
        f.asc_get(&f.team_token(c.clone())),
        "expected an array of strings",
    );
    c["scope"] = json!(["/v1/apps"]);
    rejected(
        f.asc_get(&f.team_token(c.clone())),
        "is not \"METHOD /path[?query]\"",
    );
    c["scope"] = json!([]);
    rejected(f.asc_get(&f.team_token(c)), "empty list");
}

// ---------------------------------------------------------------- §1.3 long-lived

const DAY: i64 = 86_400;

#[test]
fn s1_3_long_lived_get_scope_on_ci_products_accepted_for_30_days() {
    let f = fx();
    let t = scoped(
        &f,
        &["GET /v1/ciProducts", "GET /v1/ciProducts/7/workflows"],
        30 * DAY,
    );
    f.asc(&t, &get("/v1/ciProducts")).unwrap();
    f.asc(&t, &get("/v1/ciProducts/7/workflows")).unwrap();
    // The scope still limits what it can do.
    rejected(f.asc(&t, &get("/v1/apps")), "no scope entry matches");
}

#[test]
fn s1_3_long_lived_scope_on_apps_rejected() {
    let f = fx();
    let t = scoped(&f, &["GET /v1/apps"], 30 * DAY);
    let reason = rejected(f.asc(&t, &get("/v1/apps")), "lifetime is 2592000 s");
    assert!(
        reason.contains("\"GET /v1/apps\" is not on a resource that allows long-lived"),
        "{reason}"
    );
    // One ineligible entry spoils the whole token.
    let t = scoped(&f, &["GET /v1/ciProducts", "GET /v1/apps"], 30 * DAY);
    rejected(
        f.asc(&t, &get("/v1/ciProducts")),
        "\"GET /v1/apps\" is not on a resource",
    );
}

#[test]
fn s1_3_long_lived_needs_scope_and_get_only() {
    let f = fx();
    let t = mint_asc_token(
        &f.team.pkcs8_pem,
        &f.team.key_id,
        Some(ISSUER),
        NOW,
        30 * DAY,
        &[],
    )
    .unwrap();
    rejected(
        f.asc(&t, &get("/v1/ciProducts")),
        "unless the token's scope lists only GET",
    );
    let t = scoped(&f, &["POST /v1/ciBuildRuns"], 30 * DAY);
    let post = RequestTarget {
        method: "POST",
        path: "/v1/ciBuildRuns",
        query: NO_QUERY,
    };
    rejected(f.asc(&t, &post), "is not a GET");
    // A short-lived POST scope is fine.
    let t = scoped(&f, &["POST /v1/ciBuildRuns"], 600);
    f.asc(&t, &post).unwrap();
}

#[test]
fn s1_3_long_lived_capped_at_180_days() {
    let f = fx();
    let t = scoped(&f, &["GET /v1/apps/1/perfPowerMetrics"], 180 * DAY);
    f.asc(&t, &get("/v1/apps/1/perfPowerMetrics")).unwrap();
    let t = scoped(&f, &["GET /v1/apps/1/perfPowerMetrics"], 180 * DAY + 1);
    rejected(f.asc(&t, &get("/v1/apps/1/perfPowerMetrics")), "six months");
}

// ---------------------------------------------------------------- cache

/// A key store that can change between requests, like the real one.
struct LiveKeys(Mutex<HashMap<String, ApiKey>>);

impl KeyLookup for LiveKeys {
    fn key(&self, key_id: &str) -> Option<ApiKey> {
        self.0.lock().unwrap().get(key_id).cloned()
    }
}

fn live(f: &Fx) -> LiveKeys {
    LiveKeys(Mutex::new(f.keys.clone()))
}

#[test]
fn cache_hit_still_rejects_after_exp() {
    let f = fx();
    let keys = live(&f);
    let v = Verifier::default();
    let t = mint_asc_token(
        &f.team.pkcs8_pem,
        &f.team.key_id,
        Some(ISSUER),
        NOW,
        600,
        &[],
    )
    .unwrap();
    let h = bearer(&t);
    v.verify_asc(Some(&h), &get("/v1/apps"), NOW, &keys)
        .unwrap();
    assert_eq!(v.cache().len(), 1);
    v.verify_asc(Some(&h), &get("/v1/apps"), NOW + 599, &keys)
        .unwrap();
    let expired_at = NOW + 600 + DEFAULT_CLOCK_SKEW_SECS;
    rejected(
        v.verify_asc(Some(&h), &get("/v1/apps"), expired_at, &keys),
        "token expired",
    );
}

#[test]
fn cache_hit_still_rejects_after_revocation() {
    let f = fx();
    let keys = live(&f);
    let v = Verifier::default();
    let t = mint_asc_token(
        &f.team.pkcs8_pem,
        &f.team.key_id,
        Some(ISSUER),
        NOW,
        600,
        &[],
    )
    .unwrap();
    let h = bearer(&t);
    v.verify_asc(Some(&h), &get("/v1/apps"), NOW, &keys)
        .unwrap();
    keys.0
        .lock()
        .unwrap()
        .get_mut(&f.team.key_id)
        .unwrap()
        .revoked = true;
    rejected(
        v.verify_asc(Some(&h), &get("/v1/apps"), NOW + 1, &keys),
        "revoked",
    );
    keys.0.lock().unwrap().remove(&f.team.key_id);
    rejected(
        v.verify_asc(Some(&h), &get("/v1/apps"), NOW + 2, &keys),
        "names no known API key",
    );
}

#[test]
fn cache_hit_applies_scope_per_request_and_fresh_roles() {
    let f = fx();
    let keys = live(&f);
    let v = Verifier::default();
    let t = scoped(&f, &["GET /v1/apps/1"], 600);
    let h = bearer(&t);
    let p = v
        .verify_asc(Some(&h), &get("/v1/apps/1"), NOW, &keys)
        .unwrap();
    assert_eq!(p.key.roles, ["ADMIN"]);
    rejected(
        v.verify_asc(Some(&h), &get("/v1/apps/2"), NOW + 1, &keys),
        "no scope entry matches",
    );
    keys.0
        .lock()
        .unwrap()
        .get_mut(&f.team.key_id)
        .unwrap()
        .roles = vec!["FINANCE".into()];
    let p = v
        .verify_asc(Some(&h), &get("/v1/apps/1"), NOW + 2, &keys)
        .unwrap();
    assert_eq!(p.key.roles, ["FINANCE"]);
    assert_eq!(v.cache().len(), 1);
}

#[test]
fn cache_hit_rejects_when_key_id_reused_with_new_key() {
    let f = fx();
    let keys = live(&f);
    let v = Verifier::default();
    let t = mint_asc_token(
        &f.team.pkcs8_pem,
        &f.team.key_id,
        Some(ISSUER),
        NOW,
        600,
        &[],
    )
    .unwrap();
    let h = bearer(&t);
    v.verify_asc(Some(&h), &get("/v1/apps"), NOW, &keys)
        .unwrap();
    let replacement = generate_key(KeyKind::Team);
    keys.0
        .lock()
        .unwrap()
        .get_mut(&f.team.key_id)
        .unwrap()
        .public_key_der = replacement.public_key_der;
    rejected(
        v.verify_asc(Some(&h), &get("/v1/apps"), NOW + 1, &keys),
        "does not verify",
    );
}

#[test]
fn cache_storekit_hit_rechecks_and_does_not_cross_apis() {
    let f = fx();
    let keys = live(&f);
    let v = Verifier::default();
    let t = iap_token(&f, sk_claims(&f));
    let h = bearer(&t);
    assert_eq!(
        v.verify_storekit(Some(&h), NOW, &keys).unwrap().bundle_id,
        "com.example.app"
    );
    assert_eq!(
        v.verify_storekit(Some(&h), NOW + 10, &keys)
            .unwrap()
            .bundle_id,
        "com.example.app"
    );
    rejected(
        v.verify_asc(Some(&h), &get("/v1/apps"), NOW, &keys),
        "In-App Purchase key",
    );
    rejected(
        v.verify_storekit(Some(&h), NOW + 300 + DEFAULT_CLOCK_SKEW_SECS, &keys),
        "token expired",
    );
    keys.0
        .lock()
        .unwrap()
        .get_mut(&f.iap.key_id)
        .unwrap()
        .revoked = true;
    rejected(v.verify_storekit(Some(&h), NOW + 20, &keys), "revoked");
}

#[test]
fn cache_does_not_keep_failed_tokens() {
    let f = fx();
    let v = Verifier::default();
    let mut c = std_claims();
    c["exp"] = json!(NOW + 5000);
    let h = bearer(&f.team_token(c));
    assert!(
        v.verify_asc(Some(&h), &get("/v1/apps"), NOW, &f.keys)
            .is_err()
    );
    assert!(v.cache().is_empty());
}

#[test]
fn verifier_rules_are_configurable() {
    let f = fx();
    let rules = Rules {
        clock_skew_secs: 0,
        ..Rules::default()
    };
    let v = Verifier::new(rules, TokenCache::new(16));
    let mut c = std_claims();
    c["iat"] = json!(NOW - 600);
    c["exp"] = json!(NOW);
    let h = bearer(&f.team_token(c));
    rejected(
        v.verify_asc(Some(&h), &get("/v1/apps"), NOW, &f.keys),
        "token expired",
    );
    // The default 5 s skew would still accept it.
    verify_asc(Some(&h), &get("/v1/apps"), NOW, &f.keys).unwrap();
}

// ---------------------------------------------------------------- interop with a JWT library

fn real_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn interop_token_from_jsonwebtoken_accepted() {
    let f = fx();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(f.team.key_id.clone());
    let key = jsonwebtoken::EncodingKey::from_ec_pem(f.team.pkcs8_pem.as_bytes()).unwrap();
    let t = jsonwebtoken::encode(&header, &std_claims(), &key).unwrap();
    f.asc_get(&t).unwrap();
}

#[test]
fn interop_minted_token_verifies_with_jsonwebtoken() {
    let f = fx();
    let now = real_now();
    let t = mint_asc_token(
        &f.team.pkcs8_pem,
        &f.team.key_id,
        Some(ISSUER),
        now,
        600,
        &[],
    )
    .unwrap();
    let dk = jsonwebtoken::DecodingKey::from_ec_der(&f.team.public_key_der);
    let mut val = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    val.set_audience(&["appstoreconnect-v1"]);
    let data = jsonwebtoken::decode::<Value>(&t, &dk, &val).unwrap();
    assert_eq!(data.header.kid.as_deref(), Some(f.team.key_id.as_str()));
    assert_eq!(data.claims["iss"], ISSUER);
    // The public point derived from the .p8 is what the store keeps.
    assert_eq!(
        public_key_from_p8(&f.team.pkcs8_pem).unwrap(),
        f.team.public_key_der
    );
}
