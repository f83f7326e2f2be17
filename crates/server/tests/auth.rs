//! Apple's token, role and rate-limit rules at the HTTP surface (apple-semantics.md §1).

mod common;

use common::*;
use crabapple_auth::KeyKind;
use crabapple_server::keys::{self, NewKey};
use crabapple_server::setup::WorldChoice;

const APPLE_401: &str = r#""status":"401","code":"NOT_AUTHORIZED","title":"Authentication credentials are missing or invalid.","detail":"Provide a properly configured and signed bearer token, and make sure that it has not expired. Learn more about Generating Tokens for API Requests https://developer.apple.com/go/?id=api-generating-tokens"}]}"#;

#[tokio::test]
async fn bad_tokens_get_apples_exact_401_body_and_a_reason() {
    let w = open(temp_dir("auth"), WorldChoice::Empty, 100).await;
    let expired = {
        let p8 = std::fs::read_to_string(keys::key_path(&w.dir, &w.key_id)).unwrap();
        crabapple_auth::mint_asc_token(
            &p8,
            &w.key_id,
            Some(&w.issuer),
            now_secs() - 3000,
            1200,
            &[],
        )
        .unwrap()
    };
    // Beyond the 1,260 s `exp − iat` allows with a backdated `iat` (crates/auth lib.rs
    // ASC_IAT_BACKDATE_TOLERANCE_SECS): refused however long the request takes. (1,201 s from
    // `iat = now` is accepted once a second has passed, since `exp − now` is then 1,200 s; the
    // exact boundaries are crates/auth's tests, on a fixed clock.)
    let too_long = {
        let p8 = std::fs::read_to_string(keys::key_path(&w.dir, &w.key_id)).unwrap();
        crabapple_auth::mint_asc_token(&p8, &w.key_id, Some(&w.issuer), now_secs(), 1261, &[])
            .unwrap()
    };
    // Within 1,260 s of a backdated `iat`, but expiring more than 20 minutes from now (§1.1).
    let expires_too_late = {
        let p8 = std::fs::read_to_string(keys::key_path(&w.dir, &w.key_id)).unwrap();
        crabapple_auth::mint_asc_token(&p8, &w.key_id, Some(&w.issuer), now_secs() - 30, 1260, &[])
            .unwrap()
    };
    let wrong_issuer = token_for(
        &w.dir,
        &w.key_id,
        Some("00000000-0000-0000-0000-000000000000"),
        &[],
    );
    for (what, token) in [
        ("none", None),
        ("garbage", Some("abc.def.ghi".to_string())),
        ("expired", Some(expired)),
        ("lifetime 1261 s", Some(too_long)),
        ("exp 1230 s from now", Some(expires_too_late)),
        ("wrong issuer", Some(wrong_issuer)),
    ] {
        let r = w.call("GET", "/v1/apps", token.as_deref(), None).await;
        assert_eq!(r.status, 401, "{what}");
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/json")
        );
        let body = String::from_utf8(r.body.clone()).unwrap();
        assert!(body.starts_with(r#"{"errors":[{"id":""#), "{what}: {body}");
        assert!(body.ends_with(APPLE_401), "{what}: {body}");
        assert!(
            !r.header("x-crabapple-reason").unwrap().is_empty(),
            "{what}"
        );
    }
}

#[tokio::test]
async fn revoked_keys_and_scopes_are_enforced() {
    let w = open(temp_dir("auth"), WorldChoice::Empty, 100).await;
    assert_eq!(w.get("/v1/apps").await.status, 200);
    let scoped = token_for(
        &w.dir,
        &w.key_id,
        Some(&w.issuer),
        &["GET /v1/bundleIds".to_string()],
    );
    assert_eq!(
        w.call("GET", "/v1/bundleIds?limit=5", Some(&scoped), None)
            .await
            .status,
        200,
        "limit is ignored by scope matching"
    );
    let r = w.call("GET", "/v1/apps", Some(&scoped), None).await;
    assert_eq!(r.status, 401);
    assert!(r.header("x-crabapple-reason").unwrap().contains("scope"));
    keys::revoke(w.app.store(), &w.key_id).await.unwrap();
    w.app.reload_keys().await.unwrap();
    assert_eq!(w.get("/v1/apps").await.status, 401);
}

#[tokio::test]
async fn individual_keys_never_reach_provisioning_and_roles_limit_writes() {
    let w = open(temp_dir("auth"), WorldChoice::Empty, 100).await;
    let (ind, ind_token) = w.key_token(KeyKind::Individual, &["ADMIN"]).await;
    let (_, dev_token) = w.key_token(KeyKind::Team, &["DEVELOPER"]).await;
    assert_eq!(
        w.call("GET", "/v1/apps", Some(&ind_token), None)
            .await
            .status,
        200,
        "sub:user tokens work"
    );
    let r = w
        .call("GET", "/v1/certificates", Some(&ind_token), None)
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error_code(), "FORBIDDEN_ERROR");
    assert_eq!(
        r.json()["errors"][0]["detail"],
        "The API key in use does not allow this request"
    );
    // An individual key presented with `iss` is refused (§1.2).
    let with_iss = token_for(&w.dir, &ind, Some(&w.issuer), &[]);
    assert_eq!(
        w.call("GET", "/v1/apps", Some(&with_iss), None)
            .await
            .status,
        401
    );
    // DEVELOPER may not create users' invitations (Admin only) but may read.
    let invite = serde_json::json!({ "data": { "type": "userInvitations", "attributes": { "email": "a@b.c", "firstName": "A", "lastName": "B", "roles": ["DEVELOPER"] } } });
    assert_eq!(
        w.call(
            "POST",
            "/v1/userInvitations",
            Some(&dev_token),
            Some(invite)
        )
        .await
        .status,
        403
    );
    assert_eq!(
        w.call("GET", "/v1/userInvitations", Some(&dev_token), None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn every_response_counts_against_a_rolling_hour_then_429() {
    let w = open(temp_dir("auth"), WorldChoice::Empty, 3).await;
    for remaining in [2, 1, 0] {
        let r = w.get("/v1/apps").await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("x-rate-limit").unwrap(),
            format!("user-hour-lim:3;user-hour-rem:{remaining};")
        );
    }
    let r = w.get("/v1/apps").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.error_code(), "RATE_LIMIT_EXCEEDED");
    assert!(
        r.header("x-rate-limit")
            .unwrap()
            .starts_with("user-hour-lim:3;user-hour-rem:0;")
    );
}

/// A token of a new Admin team key written as `crabapple keys create` does from another process:
/// to the store only, not loaded by the running app.
async fn key_of_another_process(w: &World) -> String {
    let k = keys::create(
        w.app.store(),
        &w.dir,
        NewKey {
            kind: KeyKind::Team,
            roles: vec!["ADMIN".into()],
            user_id: None,
            name: None,
        },
    )
    .await
    .unwrap();
    token_for(&w.dir, &k.key_id, Some(&w.issuer), &[])
}

#[tokio::test]
async fn a_key_created_by_another_process_works_on_its_first_request() {
    let w = open(temp_dir("auth"), WorldChoice::Empty, 100).await;
    let token = key_of_another_process(&w).await;
    assert_eq!(
        w.call("GET", "/v1/apps", Some(&token), None).await.status,
        200
    );
}

/// Many first requests at once with a key another process just created (the Node suite's eight
/// parallel discovery calls on a replica that had not seen the key): each waits for the reload
/// the first one started instead of being refused while it runs.
#[tokio::test]
async fn many_first_requests_with_a_new_key_at_once_all_pass() {
    let w = std::sync::Arc::new(open(temp_dir("auth"), WorldChoice::Demo, 1000).await);
    for round in 0..5 {
        let token = key_of_another_process(&w).await;
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let (w, token) = (w.clone(), token.clone());
            calls.spawn(async move {
                w.call("GET", "/v1/apps?limit=1", Some(&token), None)
                    .await
                    .status
            });
        }
        let statuses = calls.join_all().await;
        assert_eq!(statuses, vec![200; 16], "round {round}");
    }
}

/// Issue 8, §1.2: an individual key has "the apps and permissions of the user"; once the user
/// is deleted (`DELETE /v1/users/{id}` → 204) the key's tokens are refused with a reason, and a
/// change of the user's roles applies to the key at once.
#[tokio::test]
async fn an_individual_key_follows_its_user() {
    let w = open(temp_dir("auth"), WorldChoice::Demo, 1000).await;
    let (key, token) = w.key_token(KeyKind::Individual, &["ADMIN"]).await;
    assert_eq!(
        w.call("GET", "/v1/apps", Some(&token), None).await.status,
        200
    );
    let user = w
        .app
        .key(&key)
        .and_then(|k| k.user_id)
        .expect("an individual key has a user");

    // Roles follow the user: a Developer may not read users' invitations… but may read apps.
    let r = w
        .call(
            "PATCH",
            &format!("/v1/users/{user}"),
            Some(&w.token.clone()),
            Some(serde_json::json!({"data": {"type": "users", "id": user, "attributes": {"roles": ["DEVELOPER"]}}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = w.call("POST", "/v1/userInvitations", Some(&token), Some(serde_json::json!({
        "data": {"type": "userInvitations", "attributes": {"email": "x@crabapple.example", "firstName": "X", "lastName": "Y", "roles": ["DEVELOPER"]}}
    }))).await;
    assert_eq!(r.status, 403, "the user's new roles apply to the key");

    let r = w
        .call(
            "DELETE",
            &format!("/v1/users/{user}"),
            Some(&w.token.clone()),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let r = w.call("GET", "/v1/apps", Some(&token), None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "NOT_AUTHORIZED");
    assert!(
        r.header("x-crabapple-reason")
            .unwrap()
            .contains("was deleted"),
        "{:?}",
        r.header("x-crabapple-reason")
    );
}
