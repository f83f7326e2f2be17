//! Helpers of the TestFlight and build suites (tests/testflight.rs, tests/builds.rs): apps and
//! builds as Apple creates them, a build's beta states, refusals, the admin API playing Apple.

use super::{Resp, World};
use serde_json::{Value, json};

/// An app created as Apple creates one (admin API).
pub async fn new_app(w: &World) -> String {
    let a = w
        .admin_create(
            "apps",
            json!({ "attributes": { "name": "Pilot", "bundleId": "com.example.pilot", "sku": "PILOT", "primaryLocale": "en-GB" } }),
        )
        .await;
    id(&a)
}

/// A build of `app` as Apple receives one (admin API): its resource object.
pub async fn new_build(w: &World, app: &str, attributes: Value) -> Value {
    w.admin_create(
        "builds",
        json!({ "attributes": attributes, "relationships": { "app": app } }),
    )
    .await
}

/// A processed build with its export compliance answer: its id.
pub async fn ready_build(w: &World, app: &str, number: &str) -> String {
    let b = new_build(
        w,
        app,
        json!({ "version": number, "processingState": "VALID", "usesNonExemptEncryption": false }),
    )
    .await;
    id(&b)
}

pub fn id(resource: &Value) -> String {
    resource["id"].as_str().unwrap().to_string()
}

/// An API request with the world's token.
pub async fn send(w: &World, method: &str, uri: &str, body: Value) -> Resp {
    w.call(method, uri, Some(&w.token.clone()), Some(body))
        .await
}

/// `data` of a GET answered 200.
pub async fn data(w: &World, uri: &str) -> Value {
    let r = w.get(uri).await;
    assert_eq!(r.status, 200, "{uri}: {}", String::from_utf8_lossy(&r.body));
    r.json()["data"].clone()
}

/// `(internalBuildState, externalBuildState)` of a build's beta detail.
pub async fn beta_states(w: &World, build: &str) -> (String, String) {
    let d = data(w, &format!("/v1/builds/{build}/buildBetaDetail")).await;
    let a = &d["attributes"];
    let s = |k: &str| a[k].as_str().unwrap_or_default().to_string();
    (s("internalBuildState"), s("externalBuildState"))
}

pub fn states(internal: &str, external: &str) -> (String, String) {
    (internal.to_string(), external.to_string())
}

/// The one error of a refusal: `(status, code, title, detail)`.
pub fn refusal(r: &Resp) -> (u16, String, String, String) {
    let e = &r.json()["errors"][0];
    let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
    assert_eq!(e["status"], r.status.to_string());
    (r.status, s("code"), s("title"), s("detail"))
}

pub fn err(status: u16, code: &str, title: &str, detail: &str) -> (u16, String, String, String) {
    (status, code.into(), title.into(), detail.into())
}

/// Apple changing a resource (admin API), answered 200.
pub async fn admin_patch(w: &World, rtype: &str, id: &str, attributes: Value) {
    let r = w
        .call(
            "PATCH",
            &format!("/crabapple/admin/resources/{rtype}/{id}"),
            None,
            Some(json!({ "attributes": attributes })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}
