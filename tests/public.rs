//! `listen --public cloudflared|ngrok` with stand-ins for the tools on `PATH`: small shell scripts
//! written here that print what the real tools print (cloudflared's quick-tunnel banner on
//! stderr, ngrok's `"started tunnel"` JSON line on stdout), record their arguments and process
//! id, and stay alive until killed. Nothing here reaches the internet. Linux only: whether the
//! child is gone is read from `/proc`.
#![cfg(target_os = "linux")]

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{announced_address, binary, wait_for};

const CLOUDFLARED_URL: &str = "https://standin-quiet-words-here.trycloudflare.com";
const NGROK_URL: &str = "https://1a2b-203-0-113-7.ngrok-free.app";

/// cloudflared's log as it prints it (on stderr), from `cmd/cloudflared/tunnel/quick_tunnel.go`
/// and `cliutil.LogTable`; `STANDIN=die` makes it fail as it does without a network instead.
const CLOUDFLARED: &str = r#"#!/bin/sh
echo $$ > "$STANDIN_DIR/cloudflared.pid"
printf '%s\n' "$@" > "$STANDIN_DIR/cloudflared.args"
log() { echo "2026-12-01T18:00:00Z INF $1" >&2; }
log "Thank you for trying Cloudflare Tunnel. Doing so, without a Cloudflare account, is a quick way to experiment and try it out. (https://www.cloudflare.com/website-terms/)"
log "Requesting new quick Tunnel on trycloudflare.com..."
if [ "$STANDIN" = die ]; then
  printf '2026-12-01T18:00:01Z ERR \033]0;owned\007failed to request quick Tunnel error="Post \\"https://api.trycloudflare.com/tunnel\\": dial tcp: lookup api.trycloudflare.com: no such host"\n' >&2
  exit 1
fi
log "+--------------------------------------------------------------------------------------------+"
log "|  Your quick Tunnel has been created! Visit it at (it may take some time to be reachable):  |"
log "|  https://standin-quiet-words-here.trycloudflare.com                                        |"
log "+--------------------------------------------------------------------------------------------+"
log "Registered tunnel connection connIndex=0 location=ams01 protocol=quic"
exec sleep 600
"#;

/// ngrok's log with `--log stdout --log-format json`.
const NGROK: &str = r#"#!/bin/sh
echo $$ > "$STANDIN_DIR/ngrok.pid"
printf '%s\n' "$@" > "$STANDIN_DIR/ngrok.args"
echo '{"lvl":"info","msg":"no configuration paths supplied","t":"2026-12-01T18:00:00Z"}'
echo '{"addr":"127.0.0.1:4040","lvl":"info","msg":"starting web service","obj":"web","t":"2026-12-01T18:00:00Z"}'
echo '{"lvl":"info","msg":"tunnel session started","obj":"tunnels.session","t":"2026-12-01T18:00:00Z"}'
echo '{"addr":"http://127.0.0.1:8080","lvl":"info","msg":"started tunnel","name":"command_line","obj":"tunnels","t":"2026-12-01T18:00:00Z","url":"https://1a2b-203-0-113-7.ngrok-free.app"}'
exec sleep 600
"#;

/// A directory holding the stand-ins, put first on `PATH`.
struct Standins {
    dir: tempfile::TempDir,
}

impl Standins {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, script) in [("cloudflared", CLOUDFLARED), ("ngrok", NGROK)] {
            let path = dir.path().join(name);
            std::fs::write(&path, script).expect("write a stand-in");
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `hookscope listen --headless` with the stand-ins on `PATH` and `extra` arguments.
    fn command(&self, extra: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = binary();
        let path = format!(
            "{}:{}",
            self.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        command
            .args(["listen", "--headless", "--addr", "127.0.0.1:0", "--out"])
            .arg(self.path().join("captures.jsonl"))
            .args(extra)
            .env("PATH", path)
            .env("STANDIN_DIR", self.path())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    }

    /// The process id `tool`'s stand-in recorded, once it has.
    fn pid(&self, tool: &str) -> u32 {
        let file = self.path().join(format!("{tool}.pid"));
        wait_for(&format!("{tool} to start"), Duration::from_secs(20), || {
            std::fs::read_to_string(&file).ok()?.trim().parse().ok()
        })
    }

    /// The arguments `tool`'s stand-in was given.
    fn args(&self, tool: &str) -> Vec<String> {
        let file = self.path().join(format!("{tool}.args"));
        let text = wait_for(&format!("{tool}'s arguments"), Duration::from_secs(20), || {
            std::fs::read_to_string(&file).ok().filter(|t| t.ends_with('\n'))
        });
        text.lines().map(str::to_owned).collect()
    }
}

/// Whether process `pid` is gone (or a zombie no one reaped yet: it runs no more).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

fn signal(child: &Child, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());
}

fn waits_for_line(stderr: &Arc<Mutex<Vec<String>>>, what: &str) -> String {
    wait_for(what, Duration::from_secs(20), || {
        stderr
            .lock()
            .expect("lock")
            .iter()
            .find(|l| l.contains(what))
            .cloned()
    })
}

/// Runs `tool` behind a headless listener: its URL is printed and it got the listener's
/// address; a webhook sent to the listener is captured; `stop_with` ends hookscope, and the
/// child is gone with it.
fn run_and_stop(tool: &str, stop_with: &str) {
    let standins = Standins::new();
    let mut child = standins
        .command(&["--public", tool], &[])
        .spawn()
        .expect("spawn hookscope");
    let (addr, stderr) = announced_address(&mut child);
    let pid = standins.pid(tool);
    let url = match tool {
        "cloudflared" => CLOUDFLARED_URL,
        _ => NGROK_URL,
    };
    let line = waits_for_line(&stderr, "public URL: ");
    assert!(
        line.starts_with(&format!("public URL: {url} ")) && line.ends_with("register it with your provider"),
        "{line}"
    );
    let expected: Vec<String> = match tool {
        "cloudflared" => vec![
            "tunnel".into(),
            "--url".into(),
            format!("http://{addr}"),
            "--no-autoupdate".into(),
        ],
        _ => vec![
            "http".into(),
            addr.to_string(),
            "--log".into(),
            "stdout".into(),
            "--log-format".into(),
            "json".into(),
        ],
    };
    assert_eq!(standins.args(tool), expected);
    assert!(!gone(pid), "the tunnel runs while hookscope does");
    signal(&child, stop_with);
    let status = child.wait().expect("wait for hookscope");
    assert!(status.success(), "{status:?}: {:?}", stderr.lock());
    wait_for("the tunnel to be gone", Duration::from_secs(10), || {
        gone(pid).then_some(())
    });
}

#[test]
fn cloudflared_url_is_shown_and_the_child_ends_with_sigterm() {
    run_and_stop("cloudflared", "TERM");
}

#[test]
fn cloudflared_ends_with_sigint() {
    run_and_stop("cloudflared", "INT");
}

#[test]
fn ngrok_url_is_shown_and_the_child_ends_with_sigterm() {
    run_and_stop("ngrok", "TERM");
}

#[test]
fn the_child_ends_when_hookscope_exits_with_an_error() {
    // hookscope starts the tunnel, then fails to create a smee channel: an error exit. The
    // smee server answers only once the stand-in is running, so the child surely started.
    let standins = Standins::new();
    let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let new_url = format!("http://{}/new", server.local_addr().expect("addr"));
    let dir = standins.path().to_owned();
    let answering = std::thread::spawn(move || {
        let (mut stream, _) = server.accept().expect("hookscope asks for a channel");
        wait_for("cloudflared to start", Duration::from_secs(20), || {
            dir.join("cloudflared.pid").exists().then_some(())
        });
        let mut request = [0u8; 1024];
        let _ = stream.read(&mut request);
        let answer = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n";
        std::io::Write::write_all(&mut stream, answer).expect("answer");
    });
    let output = standins
        .command(&["--public", "cloudflared", "--smee", &new_url], &[])
        .output()
        .expect("run hookscope");
    answering.join().expect("the smee stand-in");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("cannot create a smee channel"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let pid = standins.pid("cloudflared");
    wait_for("the tunnel to be gone", Duration::from_secs(10), || {
        gone(pid).then_some(())
    });
}

#[test]
fn a_dying_child_is_reported_with_its_last_lines_and_listening_goes_on() {
    let standins = Standins::new();
    let mut child = standins
        .command(&["--public", "cloudflared"], &[("STANDIN", "die")])
        .spawn()
        .expect("spawn hookscope");
    let (addr, stderr) = announced_address(&mut child);
    let line = waits_for_line(&stderr, "cloudflared exited");
    assert!(line.contains("exit status: 1"), "{line}");
    assert!(
        line.contains(&format!("still listening on http://{addr}")),
        "{line}"
    );
    let last = waits_for_line(&stderr, "failed to request quick Tunnel");
    // Its escape sequence is shown, not played.
    assert!(last.contains("\\x1b]0;owned\\x07"), "{last:?}");
    assert!(!stderr.lock().expect("lock").iter().any(|l| l.contains('\u{1b}')));
    // The listener still captures.
    let response = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(common::send_raw(addr, &common::post("/after", &[], b"{}")))
        .expect("send");
    assert_eq!(response.status, 200);
    signal(&child, "TERM");
    assert!(child.wait().expect("wait").success());
}

#[test]
fn a_missing_tool_is_one_line_with_where_to_get_it() {
    let empty = tempfile::tempdir().expect("temp dir");
    for (tool, hint) in [
        ("cloudflared", "developers.cloudflare.com"),
        ("ngrok", "ngrok.com/download"),
    ] {
        let output = binary()
            .args([
                "listen",
                "--headless",
                "--addr",
                "127.0.0.1:0",
                "--public",
                tool,
                "--out",
            ])
            .arg(empty.path().join("captures.jsonl"))
            .env("PATH", empty.path())
            .stdin(Stdio::null())
            .output()
            .expect("run hookscope");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(&format!("`{tool}` is not on PATH")), "{stderr}");
        assert!(stderr.contains(hint), "{stderr}");
    }
}

/// The inspector's status bar shows the URL (the screen read through vt100 from a pty).
#[test]
fn the_status_bar_shows_the_public_url() {
    let standins = Standins::new();
    let dir = standins.path().to_string_lossy().into_owned();
    let path = format!("{dir}:{}", std::env::var("PATH").unwrap_or_default());
    let mut term = common::pty::Terminal::start_with(
        &["listen", "--addr", "127.0.0.1:0", "--public", "cloudflared"],
        standins.path(),
        160,
        24,
        &[("STANDIN_DIR", dir.as_str()), ("PATH", path.as_str())],
    );
    let pid = standins.pid("cloudflared");
    term.wait_for("the URL in the status bar", |s| {
        s.contains(&format!("public {CLOUDFLARED_URL}"))
    });
    term.type_keys("q");
    wait_for("the inspector to quit", Duration::from_secs(20), || {
        term.child.try_wait().ok().flatten()
    });
    wait_for("the tunnel to be gone", Duration::from_secs(10), || {
        gone(pid).then_some(())
    });
}
