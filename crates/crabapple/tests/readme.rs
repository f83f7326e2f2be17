//! What the README shows `crabapple serve` printing is what the binary prints (issue 7, "Done
//! when"): the block under "What `serve` prints" is compared with a real first start on an empty
//! data directory, after replacing what differs per run (port, data path, key id, start time).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn readme_block() -> Vec<String> {
    let readme = include_str!("../../../README.md");
    let start = readme
        .find("What `serve` prints:\n\n```\n")
        .expect("README has the serve block")
        + "What `serve` prints:\n\n```\n".len();
    let end = start + readme[start..].find("```").unwrap();
    readme[start..end].lines().map(str::to_string).collect()
}

#[test]
fn readme_shows_what_serve_prints() {
    let dir = std::env::temp_dir().join(format!("crabapple-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_crabapple"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&dir)
        // The README shows the embedded default (SQLite), also in the suite's PostgreSQL pass.
        .env_remove("CRABAPPLE_TEST_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let done = line.starts_with("ready in ");
        lines.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let data = dir.display().to_string();
    let key = lines
        .iter()
        .find_map(|l| l.strip_prefix("  key ID     "))
        .and_then(|l| l.split_whitespace().next())
        .expect("a key ID line")
        .to_string();
    let port = lines
        .iter()
        .find_map(|l| l.strip_prefix("  base URL   http://127.0.0.1:"))
        .expect("a base URL line")
        .to_string();
    let printed: Vec<String> = lines
        .iter()
        .map(|l| {
            let l = l
                .replace(&data, "./crabapple-data")
                .replace(&key, "2X9R4HXF34")
                .replace(&format!("127.0.0.1:{port}"), "127.0.0.1:8686");
            match l.strip_prefix("ready in ") {
                Some(_) => "ready in 250 ms".to_string(),
                None => l,
            }
        })
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        printed,
        readme_block(),
        "README's serve block differs from what serve prints"
    );
}
