//! The relay tests' harness: the real `hookscope relay`, tokens made by the real command, and
//! `listen --relay` clients, over loopback. Shared by `tests/relay.rs` and
//! `tests/relay_hostile.rs` (each declares `mod common;` before `mod relay_harness;`).
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookscope::capture::{Capture, Via};
use hookscope::codec::Record;

use crate::common::{Listener, announced_address, binary, noise, post, send_raw, wait_for};

/// A running `hookscope relay`.
pub struct Relay {
    /// Where it listens.
    pub addr: SocketAddr,
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Relay {
    pub fn start(data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_on("127.0.0.1:0", data_dir, extra)
    }

    /// Starts on `addr`: a restarted relay comes back where its clients look for it.
    pub fn start_on(addr: &str, data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_with_env(addr, data_dir, extra, &[])
    }

    /// Starts on `addr` with `env` set (`RUST_LOG`).
    pub fn start_with_env(addr: &str, data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn(binary(), addr, data_dir, extra, env)
    }

    /// Starts with its open-files limit lowered to `descriptors` (`ulimit -n`, through bash),
    /// with `env` set.
    pub fn start_with_descriptors(
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
        descriptors: u32,
    ) -> Self {
        let mut command = std::process::Command::new("bash");
        command
            .arg("-c")
            .arg(format!("ulimit -n {descriptors} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_hookscope"));
        Self::spawn(command, "127.0.0.1:0", data_dir, extra, env)
    }

    fn spawn(
        mut command: std::process::Command,
        addr: &str,
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let mut child = command
            .args(["relay", "--addr", addr, "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the relay");
        let (addr, stderr) = announced_address(&mut child);
        Self { addr, child, stderr }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything it printed on stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().expect("lock").join("\n")
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Creates a token for `channel` with the real command and returns it.
pub fn create_token(data_dir: &Path, channel: &str) -> String {
    let output = binary()
        .args(["relay", "token", "create", "--channel", channel, "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("run token create");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).expect("utf-8").trim().to_owned();
    let stored = std::fs::read_to_string(data_dir.join("tokens")).expect("token file");
    assert!(!stored.contains(&token), "the token itself is never stored");
    token
}

/// Starts a client of `relay` on `channel`, journaling to `journal`.
pub fn client(journal: &Path, relay: &str, channel: &str, token: &str, extra: &[&str]) -> Listener {
    let mut args = vec![
        "--headless",
        "--relay",
        relay,
        "--channel",
        channel,
        "--token",
        token,
    ];
    args.extend_from_slice(extra);
    Listener::start_with_journal(journal, &args)
}

pub fn wait_connected(client: &Listener) {
    wait_for("the tunnel to connect", Duration::from_secs(20), || {
        client.stderr_text().contains("relay: connected").then_some(())
    });
}

/// The captures journaled so far, tolerating a line being written at this moment.
pub fn journaled(path: &Path) -> Vec<Capture> {
    let Ok(loaded) = hookscope::journal::load(path) else {
        return Vec::new();
    };
    loaded
        .entries
        .into_iter()
        .filter_map(|e| match e.record {
            Record::Capture(c) => Some(c),
            Record::Attempt(_) => None,
        })
        .collect()
}

/// Starts a client with `start` and kills it (SIGKILL) the moment its journal grows, polling the
/// file's length every millisecond (parsing it, as `wait_captures` does, takes long enough for a
/// fast machine to journal a whole backlog in between). Returns how many captures the journal
/// then holds: fewer than were queued when the kill fell mid-stream.
pub fn kill_when_journal_grows(journal: &Path, start: impl FnOnce() -> Listener) -> usize {
    let length = || std::fs::metadata(journal).map_or(0, |m| m.len());
    let before = length();
    let mut listener = start();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while length() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {} to grow",
            journal.display()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    listener.kill9();
    journaled(journal).len()
}

pub fn wait_captures(path: &Path, count: usize) -> Vec<Capture> {
    wait_for(
        &format!("{count} captures in {}", path.display()),
        Duration::from_secs(60),
        || {
            let captures = journaled(path);
            (captures.len() >= count).then_some(captures)
        },
    )
}

/// The body of request number `n`: binary noise for odd, JSON text for even numbers.
pub fn body(n: usize) -> Vec<u8> {
    match n % 2 {
        1 => noise(1000 + n % 300, n as u64),
        _ => format!("{{\"n\":{n},\"text\":\"caf\u{e9} \u{1F3A5}\"}}").into_bytes(),
    }
}

pub async fn send(relay: SocketAddr, channel: &str, n: usize) -> u16 {
    let request = post(
        &format!("/c/{channel}/hooks/{n}?n={n}"),
        &[("X-Seq", &n.to_string())],
        &body(n),
    );
    send_raw(relay, &request).await.expect("relay answers").status
}

/// Asserts `captures` are exactly requests `range`, in order, bodies byte-identical.
pub fn assert_exactly(captures: &[Capture], range: std::ops::Range<usize>, channel: &str) {
    let paths: Vec<&str> = captures.iter().map(|c| c.path.as_str()).collect();
    let expected: Vec<String> = range.clone().map(|n| format!("/hooks/{n}")).collect();
    if let Some(at) = (0..paths.len().max(expected.len()))
        .find(|&i| paths.get(i).copied() != expected.get(i).map(String::as_str))
    {
        let window = at.saturating_sub(3)..(at + 5);
        panic!(
            "not every request once in order: {} journaled, {} expected; from #{at}: {:?} instead of {:?}",
            paths.len(),
            expected.len(),
            paths.get(window.start..window.end.min(paths.len())),
            expected.get(window.start..window.end.min(expected.len())),
        );
    }
    for (capture, n) in captures.iter().zip(range) {
        assert!(capture.body[..] == body(n)[..], "body of request {n} changed");
        assert_eq!(capture.via, Via::Relay(channel.to_owned()));
        assert_eq!(capture.query.as_deref(), Some(format!("n={n}").as_str()));
        assert_eq!(capture.header("X-Seq"), Some(n.to_string().as_bytes()));
    }
}

pub fn dir() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("relay");
    let journal = dir.path().join("captures.jsonl");
    (dir, data, journal)
}
