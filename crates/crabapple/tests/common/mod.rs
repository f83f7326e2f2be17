//! What the tests that run the real `crabapple` binary share: starting `serve` and waiting for
//! it, running a CLI command with a deadline, and a minimal HTTP/1.1 client for loopback.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_crabapple");
/// The suite's switch to PostgreSQL, removed from the binaries these helpers start: the tests
/// that run the real binary on a data directory check its SQLite file (damaged, full, read-only,
/// simulated into), so they run on SQLite in both passes; `replicas.rs` runs the binary on
/// PostgreSQL.
pub const EMBEDDED_ONLY: &str = "CRABAPPLE_TEST_DATABASE_URL";
/// How long a failing start may take (a debug binary on a loaded machine).
pub const EXIT_WITHIN: Duration = Duration::from_secs(15);

pub fn serve(data: &Path) -> Child {
    serve_with(data, Stdio::piped())
}

/// `serve` on `data` with its stderr going to `stderr` (a file, when the server may log more
/// than a pipe holds).
pub fn serve_with(data: &Path, stderr: impl Into<Stdio>) -> Child {
    Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .env_remove(EMBEDDED_ONLY)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("crabapple starts")
}

/// Reads serve's stdout up to its `ready in` line; the port of its base URL.
pub fn wait_ready(child: &mut Child) -> u16 {
    let mut port = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(p) = line.strip_prefix("  base URL   http://127.0.0.1:") {
            port = p.trim_end_matches('/').parse().ok();
        }
        if line.starts_with("ready in ") {
            return port.expect("a base URL line before `ready in`");
        }
    }
    let _ = child.kill();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    panic!("serve stopped before `ready in` ({status}): {stderr}");
}

/// Waits for `child` to exit by itself within [`EXIT_WITHIN`]; kills it and fails otherwise.
pub fn exit_of(mut child: Child, what: &str) -> Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > EXIT_WITHIN {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{what} still running after {EXIT_WITHIN:?}; stdout: {} stderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Runs `crabapple <args> --data <data>` to its end.
pub fn run(args: &[&str], data: &Path) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(data)
        .env_remove(EMBEDDED_ONLY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("crabapple starts");
    exit_of(child, &args.join(" "))
}

/// An HTTP answer: status, headers (names lower-case) and body.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request to `127.0.0.1:port` (`Connection: close`), with a bearer token and a
/// JSON body when given.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> Answer {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|b| ("Authorization", b.as_str()))
        .collect();
    http_with(port, method, path, &headers, body)
}

/// [`http`] with any request headers.
pub fn http_with(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&serde_json::Value>,
) -> Answer {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer to {method} {path}: {text:?}"));
    let mut lines = head.lines();
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        unchunk(rest)
    } else {
        rest.to_string()
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// A `Transfer-Encoding: chunked` body, joined.
fn unchunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}
