//! `crabapple transporter validate` as the README shows it (forum post 11): the README's
//! `metadata.xml` of post 11, written into a package, makes the binary print the README's
//! summary (Apple's ITMS-3000 lines) and exit with status 1, as Transporter does.

use std::process::Command;

/// The fenced block that follows `marker` in the README.
fn readme_block(marker: &str) -> String {
    let readme = include_str!("../../../README.md");
    let at = readme.find(marker).expect("README has the block") + marker.len();
    let start = at + readme[at..].find("```").unwrap();
    let start = start + readme[start..].find('\n').unwrap() + 1;
    let end = start + readme[start..].find("```").unwrap();
    readme[start..end].to_string()
}

#[test]
fn transporter_validate_prints_post_11_answer_as_the_readme_shows_and_exits_1() {
    let base = std::env::temp_dir().join(format!("crabapple-itmsp-{}", std::process::id()));
    let pkg = base.join("ALGORA_Performance.itmsp");
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&pkg).unwrap();
    let metadata = readme_block("laid out as\nApple's answer locates it):");
    assert!(metadata.starts_with("<?xml"), "{metadata}");
    std::fs::write(pkg.join("metadata.xml"), metadata).unwrap();
    std::fs::write(pkg.join("ALGORA_Performance.pkg"), b"xar!").unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_crabapple"))
        .current_dir(&base)
        .args(["transporter", "validate", "ALGORA_Performance.itmsp"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        readme_block("What `transporter validate` prints:")
    );
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn transporter_validate_refuses_a_path_that_is_not_a_package_directory() {
    let out = Command::new(env!("CARGO_BIN_EXE_crabapple"))
        .args(["transporter", "validate", "no-such.itmsp"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "crabapple: no-such.itmsp is not a package directory (NAME.itmsp)\n"
    );
}
