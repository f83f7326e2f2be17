//! Issue 8 (hostile or careless requests): text that reaches a header is encoded, so control
//! characters and non-ASCII in a path never turn into a 500.

mod common;

use common::*;

#[tokio::test]
async fn control_characters_in_a_path_are_a_4xx_with_an_encoded_reason() {
    let w = demo().await;
    for (uri, admin) in [
        ("/crabapple/admin/resources/x/%00", true),
        (
            "/crabapple/admin/resources/apps/%0D%0AX-Injected:%201",
            true,
        ),
        ("/v1/apps/%00%0A%E2%80%94", false),
        ("/v1/apps/caf%C3%A9", false),
    ] {
        let token = (!admin).then(|| w.token.clone());
        let r = w.call("GET", uri, token.as_deref(), None).await;
        assert!(
            (400..500).contains(&r.status),
            "{uri}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        let reason = r.header("x-crabapple-reason").expect("a reason");
        assert!(
            reason.bytes().all(|b| (0x20..0x7f).contains(&b)),
            "{reason}"
        );
        assert!(r.headers.get("x-injected").is_none());
    }
    // The reason decodes back to the words, non-ASCII included.
    let r = w
        .call("GET", "/v1/apps/caf%C3%A9", Some(&w.token.clone()), None)
        .await;
    let reason = r.header("x-crabapple-reason").unwrap();
    assert!(reason.contains("caf%C3%A9"), "{reason}");
}
