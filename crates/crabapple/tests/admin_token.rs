//! The admin token as a user meets it (issue 8, "The admin API and secrets"): `crabapple serve`
//! creates it 0600 in the data directory and says where, keeps it across restarts, and
//! `crabapple admin-token` prints it; the opt-out is refused on a non-loopback listener with a
//! non-zero exit, and a listener on every interface is warned about.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_crabapple");

fn scratch(case: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("crabapple-admin-{}-{case}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn serve(data: &Path, extra: &[&str]) -> Child {
    Command::new(BIN)
        .args(["serve", "--data"])
        .arg(data)
        .args(extra)
        .env_remove("CRABAPPLE_NO_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("crabapple starts")
}

/// serve's stdout up to `ready in`, and its port.
fn ready(child: &mut Child) -> (Vec<String>, u16) {
    let mut lines = Vec::new();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in &mut out {
        let line = line.unwrap();
        let done = line.starts_with("ready in ");
        lines.push(line);
        if done {
            let port = lines
                .iter()
                .find_map(|l| l.strip_prefix("  base URL   http://"))
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse().ok())
                .expect("a base URL line");
            return (lines, port);
        }
    }
    let _ = child.kill();
    panic!("serve stopped before `ready in`: {lines:?}");
}

/// Status line and body of `GET /crabapple/admin/status` with `headers`.
fn status(port: u16, headers: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET /crabapple/admin/status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

fn stop(mut child: Child) -> String {
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn issue8_serve_creates_a_private_admin_token_that_the_cli_prints_and_a_restart_keeps() {
    let dir = scratch("token");
    let mut child = serve(&dir, &["--listen", "127.0.0.1:0"]);
    let (lines, port) = ready(&mut child);
    let file = dir.join("admin-token");
    assert!(
        lines.contains(&format!(
            "  admin key  {}  (send X-Crabapple-Admin-Token)",
            file.display()
        )),
        "{lines:?}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "admin-token mode");
    }
    let printed = Command::new(BIN)
        .args(["admin-token", "--data"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(printed.status.success(), "{printed:?}");
    let token = String::from_utf8(printed.stdout)
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(token.len(), 64, "32 random bytes, hex");
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), token);

    let (line, body) = status(port, "");
    assert_eq!(line, "HTTP/1.1 401 Unauthorized", "{body}");
    let (line, body) = status(port, &format!("X-Crabapple-Admin-Token: {token}\r\n"));
    assert_eq!(line, "HTTP/1.1 200 OK", "{body}");
    stop(child);

    let mut again = serve(&dir, &["--listen", "127.0.0.1:0"]);
    let (_, port) = ready(&mut again);
    let (line, _) = status(port, &format!("X-Crabapple-Admin-Token: {token}\r\n"));
    assert_eq!(line, "HTTP/1.1 200 OK", "the token survives a restart");
    stop(again);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn issue8_no_admin_token_on_every_interface_exits_non_zero_before_creating_anything() {
    let dir = scratch("wildcard-no-token");
    let started = Instant::now();
    let out = serve(&dir, &["--listen", "0.0.0.0:0", "--no-admin-token"])
        .wait_with_output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .starts_with("crabapple: refusing to serve the admin API without a token on 0.0.0.0:")
            && stderr.contains("Drop --no-admin-token, or listen on 127.0.0.1"),
        "{stderr}"
    );
    assert!(!dir.exists(), "nothing was created");
}

#[test]
fn issue8_no_admin_token_on_loopback_serves_the_admin_api_to_local_tools() {
    let dir = scratch("loopback-no-token");
    let mut child = serve(&dir, &["--listen", "127.0.0.1:0", "--no-admin-token"]);
    let (lines, port) = ready(&mut child);
    assert!(
        lines
            .contains(&"  admin key  none (--no-admin-token: any local process may use it)".into()),
        "{lines:?}"
    );
    assert!(!dir.join("admin-token").exists());
    let (line, body) = status(port, "");
    assert_eq!(line, "HTTP/1.1 200 OK", "{body}");
    // Web pages are still refused (Origin).
    let (line, _) = status(port, "Origin: http://evil.example\r\n");
    assert_eq!(line, "HTTP/1.1 403 Forbidden");
    stop(child);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn issue8_a_listener_on_every_interface_is_warned_about() {
    let dir = scratch("wildcard");
    let mut child = serve(&dir, &["--listen", "0.0.0.0:0"]);
    let (_, port) = ready(&mut child);
    let (line, _) = status(port, "");
    assert_eq!(line, "HTTP/1.1 401 Unauthorized", "the token is required");
    let stderr = stop(child);
    assert!(
        stderr.contains("crabapple: warning: listening on 0.0.0.0:")
            && stderr.contains("reachable from the network"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
