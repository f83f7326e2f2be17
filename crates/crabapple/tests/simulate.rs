//! `crabapple simulate` from the command line (issue 9, "What a user does"): on a data directory
//! a first `serve` created, it prints the summary line and moves the virtual clock; a second run
//! continues on the next day.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_crabapple");

fn first_start(dir: &std::path::Path) {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        if line.unwrap().starts_with("ready in ") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn simulate(dir: &std::path::Path, days: &str) -> String {
    let out = Command::new(BIN)
        .args(["simulate", "--quiet", "--profile", "small", "--days", days])
        .args([
            "--app",
            "com.crabapple.notes",
            "--app",
            "com.crabapple.orchardquest",
            "--data",
        ])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `(first day, last day)` of a summary line `simulated N days (FIRST to LAST, Pacific): …`.
fn span(summary: &str) -> (String, String) {
    let inner = summary
        .split_once('(')
        .unwrap()
        .1
        .split_once(", Pacific)")
        .unwrap()
        .0;
    let (a, b) = inner.split_once(" to ").unwrap();
    (a.to_string(), b.to_string())
}

#[test]
fn simulate_prints_its_summary_and_a_second_run_continues_the_first() {
    let dir = std::env::temp_dir().join(format!("crabapple-simulate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    first_start(&dir);
    let out = simulate(&dir, "3");
    let line = out.lines().next().unwrap();
    assert!(line.starts_with("simulated 3 days ("), "{out}");
    for word in [
        " downloads, ",
        " redownloads, ",
        " updates, ",
        " purchases, ",
        " renewals, ",
        " refunds, ",
        " notifications in ",
    ] {
        assert!(line.contains(word), "{word} missing in {line}");
    }
    assert!(line.ends_with(" s"), "{line}");
    let again = simulate(&dir, "2");
    let (_, last) = span(line);
    let (next, _) = span(again.lines().next().unwrap());
    let last: jiff::civil::Date = last.parse().unwrap();
    assert_eq!(next, last.tomorrow().unwrap().to_string());
    let clock = Command::new(BIN)
        .args(["clock", "show", "--data"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(clock.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `simulate --world FILE` (what `scripts/bench.sh simulate` runs) takes the file's `traffic:`
/// section, although `--world ID` names a world for the other commands.
#[test]
fn simulate_takes_its_traffic_from_a_world_file() {
    let dir = std::env::temp_dir().join(format!("crabapple-simulate-w-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    first_start(&dir);
    let file = dir.join("traffic.yaml");
    std::fs::write(
        &file,
        "traffic:\n  com.crabapple.notes:\n    downloadsPerDay: 1000\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["simulate", "--quiet", "--days", "1", "--world"])
        .arg(&file)
        .arg("--data")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).unwrap();
    let downloads: u64 = line
        .split_once("): ")
        .unwrap()
        .1
        .split_once(" downloads")
        .unwrap()
        .0
        .parse()
        .unwrap();
    // About 1,000 first-time downloads (the day's draw), not the demo world's indie volume.
    assert!((500..2000).contains(&downloads), "{line}");
    let _ = std::fs::remove_dir_all(&dir);
}
