//! `crabapple review approve|reject` and `crabapple versions history` on a data directory a first
//! `serve` created (issue 11: the reviewer on command, the history of forum post 17).

mod common;

use common::{run, serve, wait_ready};

/// Orchard Quest 1.9.0 in the demo world: WAITING_FOR_REVIEW, released after approval.
const ORCHARD_190: &str = "0bd124bc-167c-5762-92f3-db070213306f";
/// Crabapple Notes 2.4.0: PREPARE_FOR_SUBMISSION.
const NOTES_240: &str = "24952dc7-6602-5daa-90e3-e6aceb8d0c53";

fn text(o: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn review_approve_decides_now_and_versions_history_lists_the_transitions_with_their_times() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("crabapple-review-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = serve(&dir);
    wait_ready(&mut child);
    let _ = child.kill();
    let _ = child.wait();

    let o = run(&["review", "approve", ORCHARD_190], &dir);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(out, format!("{ORCHARD_190}: PROCESSING_FOR_DISTRIBUTION\n"));

    // Not in review: refused with the reason.
    let o = run(
        &["review", "reject", NOTES_240, "--reason", "Guideline 2.1"],
        &dir,
    );
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("is PREPARE_FOR_SUBMISSION; only a version WAITING_FOR_REVIEW or IN_REVIEW can be approved or rejected"),
        "{err}"
    );

    let o = run(&["clock", "advance", "1h"], &dir);
    assert!(o.status.success(), "{}", text(&o).1);
    let o = run(&["versions", "history", ORCHARD_190], &dir);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        format!("IOS 1.9.0 ({ORCHARD_190}), now READY_FOR_DISTRIBUTION")
    );
    // Each transition after its date (`  2026-12-07T01:47:00Z  `).
    let rows: Vec<&str> = lines[1..].iter().map(|l| &l[24..]).collect();
    assert_eq!(
        rows,
        [
            "reviewSubmissions  state=COMPLETE  approved",
            "reviewSubmissionItems  state=APPROVED  approved",
            "appStoreVersions  appVersionState=PROCESSING_FOR_DISTRIBUTION appStoreState=PROCESSING_FOR_APP_STORE  approved",
            "appStoreVersions  appVersionState=READY_FOR_DISTRIBUTION appStoreState=READY_FOR_SALE  processed for distribution: on the App Store",
        ],
        "{out}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
