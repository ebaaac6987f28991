//! `listen --register optiview|millicast` (#18) and `hookscope registrations`, the real binary
//! against a stand-in of each platform's webhook API written from its documentation
//! (`register/standin.rs`), over loopback only. Every session gets its own state directory
//! (`XDG_STATE_HOME`), so the registrations record is the test's alone.

mod common;
#[path = "relay_harness/mod.rs"]
mod relay_harness;
#[path = "register/standin.rs"]
mod standin;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Followed, binary, captures_in, follow, wait_for};
use serde_json::json;
use standin::{MILLICAST_SECRET, OPTIVIEW_KEY, OPTIVIEW_SECRET, Standin};

/// The credentials every session is given, as the environment gives them.
const CREDENTIALS: [(&str, &str); 3] = [
    ("HOOKSCOPE_OPTIVIEW_API_KEY", OPTIVIEW_KEY),
    ("HOOKSCOPE_OPTIVIEW_API_SECRET", OPTIVIEW_SECRET),
    ("HOOKSCOPE_MILLICAST_API_SECRET", MILLICAST_SECRET),
];

/// A test's directory: journal, state (`XDG_STATE_HOME`), config.
struct Place {
    dir: tempfile::TempDir,
}

impl Place {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn journal(&self) -> PathBuf {
        self.path().join("captures.jsonl")
    }

    fn state(&self) -> PathBuf {
        self.path().join("state")
    }

    /// The files of the registrations record.
    fn records(&self) -> Vec<String> {
        match std::fs::read_dir(self.state().join("hookscope/registrations")) {
            Ok(entries) => {
                let mut names: Vec<String> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                names
            }
            Err(_) => Vec::new(),
        }
    }

    /// `hookscope ARGS` here, with the credentials and this state directory.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = binary();
        command
            .args(args)
            .current_dir(self.path())
            .env("XDG_STATE_HOME", self.state())
            .envs(CREDENTIALS)
            .stdin(Stdio::null());
        command
    }

    /// `hookscope ARGS`, run to its end.
    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run hookscope")
    }

    /// `hookscope listen --headless` with `extra`, once it listens.
    fn listen(&self, extra: &[&str]) -> Session {
        self.listen_with(extra, &[])
    }

    /// `hookscope listen --headless` with `extra` and `env`, once it listens.
    fn listen_with(&self, extra: &[&str], env: &[(&str, &str)]) -> Session {
        let journal = self.journal();
        let mut args = vec!["listen", "--headless", "--addr", "127.0.0.1:0", "--out"];
        let journal_text = journal.to_string_lossy().into_owned();
        args.push(&journal_text);
        args.extend_from_slice(extra);
        let mut child = self
            .command(&args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hookscope");
        let stderr = follow(&mut child);
        Session {
            child,
            addr: stderr.addr,
            stderr,
        }
    }
}

/// A running `listen`.
struct Session {
    child: Child,
    addr: std::net::SocketAddr,
    stderr: Followed,
}

impl Session {
    fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// Waits for `line` on stderr; all of stderr then.
    fn wait_line(&self, line: &str) -> String {
        wait_for(line, Duration::from_secs(10), || {
            let stderr = self.stderr();
            stderr.lines().any(|l| l == line).then_some(stderr)
        })
    }

    /// SIGTERM, then the exit status and all of stderr once it ended.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        signal(self.child.id(), "-TERM");
        let status = self.child.wait().expect("wait");
        // Its last lines (an error after the summary) may still be in the pipe.
        self.stderr.wait_ended(Duration::from_secs(10));
        (status, self.stderr())
    }

    fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Everything the session wrote that a person or a tool could read: its stderr, the journal,
/// the registrations record and the log directory.
fn written(place: &Place, stderr: &str) -> String {
    let mut all = stderr.to_owned();
    for entry in walk(place.path()) {
        all.push_str(&text(&std::fs::read(entry).unwrap_or_default()));
    }
    all
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        match path.is_dir() {
            true => files.extend(walk(&path)),
            false => files.push(path),
        }
    }
    files
}

/// Waits for the journal to hold `n` captures.
fn captures(place: &Place, n: usize) -> Vec<hookscope::capture::Capture> {
    wait_for("the captures in the journal", Duration::from_secs(20), || {
        let captures = if place.journal().exists() {
            captures_in(&place.journal())
        } else {
            Vec::new()
        };
        (captures.len() >= n).then_some(captures)
    })
}

/// `kill SIGNAL PID`, which must be sent.
fn signal(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
}

/// `listen --headless --addr 127.0.0.1:0` and `rest`.
fn headless<'a>(rest: &[&'a str]) -> Vec<&'a str> {
    [&["listen", "--headless", "--addr", "127.0.0.1:0"][..], rest].concat()
}

/// `--register PLATFORM --public-url https://h.example.test --api-base BASE`.
fn registering<'a>(platform: &'a str, base: &'a str) -> [&'a str; 6] {
    [
        "--register",
        platform,
        "--public-url",
        "https://h.example.test",
        "--api-base",
        base,
    ]
}

/// A session registering millicast then optiview at `api`, once it listens.
fn listen_both(place: &Place, api: &Standin) -> Session {
    let (optiview, millicast) = (
        format!("optiview={}", api.url()),
        format!("millicast={}", api.url()),
    );
    place.listen(&[
        "--register",
        "millicast",
        "--register",
        "optiview",
        "--public-url",
        "https://h.example.test",
        "--api-base",
        &optiview,
        "--api-base",
        &millicast,
    ])
}

/// `script` as `cloudflared` in the place's bin/: that directory, and a PATH with it first.
fn cloudflared(place: &Place, script: &str) -> (PathBuf, String) {
    let bin = place.path().join("bin");
    std::fs::create_dir(&bin).expect("mkdir");
    std::fs::write(bin.join("cloudflared"), script).expect("write");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(bin.join("cloudflared"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    (bin, path)
}

#[test]
fn optiview_is_registered_verified_at_once_and_removed_at_exit() {
    let place = Place::new();
    let api = Standin::start();
    let base = format!("optiview={}", api.url());
    // Logged at every level the client has: the credentials are in no line of it.
    let session = place.listen_with(
        &[
            "--register",
            "optiview",
            "--public-url",
            "https://hooks.example.test/in/",
            "--api-base",
            &base,
        ],
        &[("RUST_LOG", "trace")],
    );
    // Created with the documented body and auth, then its secret read.
    assert_eq!(
        api.call_lines(),
        ["POST /v2/webhooks", "GET /v2/webhooks/wh_1/secret"]
    );
    let calls = api.calls();
    let create = calls[0].body.clone().expect("a JSON body");
    assert_eq!(create["url"], json!("https://hooks.example.test/in/optiview"));
    assert_eq!(create["events"], json!(["*"]));
    let name = create["name"].as_str().expect("a name");
    assert!(
        name.starts_with("hookscope ") && name.ends_with('Z') && name.split(' ').count() == 3,
        "{name}"
    );
    let stderr = session
        .wait_line("registered optiview webhook wh_1 → https://hooks.example.test/in/optiview, all events (removed at exit)");
    assert!(
        stderr.contains("verifying signatures: secrets for optiview"),
        "{stderr}"
    );
    // Recorded before the session went on, privately.
    let records = place.records();
    assert_eq!(records.len(), 2, "{records:?}"); // SESSION.json and SESSION.lock
    let record_path = place
        .state()
        .join("hookscope/registrations")
        .join(records.iter().find(|r| r.ends_with(".json")).expect("a json"));
    let record = std::fs::read_to_string(&record_path).expect("read");
    assert!(
        record.contains("\"id\": \"wh_1\"") && record.contains("hooks.example.test"),
        "{record}"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&record_path)
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);

    // The platform signs with the secret it made: the capture is valid, not no-secret.
    let secret = api.webhooks()["wh_1"].secret.clone();
    let sent = place.run(&[
        "send",
        "optiview",
        "channel.created",
        "--to",
        &format!("http://{}/optiview", session.addr),
        "--secret",
        &secret,
    ]);
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    let captured = captures(&place, 1);
    assert_eq!(captured[0].derived.provider.as_deref(), Some("optiview"));
    assert_eq!(
        captured[0].derived.verdict.as_deref(),
        Some("valid"),
        "{:?}",
        captured[0].derived
    );

    let (status, stderr) = session.stop();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("removed optiview webhook wh_1 (deactivated, deleted)"),
        "{stderr}"
    );
    // Deactivated before deleted: the stand-in refuses a delete of an active webhook.
    assert_eq!(
        api.call_lines()[2..],
        ["PATCH /v2/webhooks/wh_1", "DELETE /v2/webhooks/wh_1"]
    );
    assert_eq!(api.calls()[2].body, Some(json!({ "active": false })));
    assert!(api.webhooks().is_empty(), "nothing left at the platform");
    assert!(
        place.records().is_empty(),
        "nothing left in the record: {:?}",
        place.records()
    );
    // Neither the webhook's secret nor the API credentials were shown or written anywhere.
    assert!(
        stderr.contains("TRACE hyper_util"),
        "the client's logs are on: {stderr}"
    );
    let everything = written(&place, &stderr);
    for value in [secret.as_str(), OPTIVIEW_KEY, OPTIVIEW_SECRET] {
        assert!(!everything.contains(value), "{value} was written");
    }
}

#[test]
fn millicast_through_the_relay_channel_with_events_narrowed() {
    let place = Place::new();
    let api = Standin::start();
    let data = place.path().join("relay-data");
    let relay = relay_harness::Relay::start(&data, &[]);
    let token = relay_harness::create_token(&data, "dev");
    let base = format!("millicast={}", api.url());
    let relay_url = relay.url();
    let session = place.listen(&[
        "--relay",
        &relay_url,
        "--channel",
        "dev",
        "--token",
        &token,
        "--register",
        "millicast",
        "--events",
        "feeds,media",
        "--api-base",
        &base,
    ]);
    assert_eq!(
        api.call_lines(),
        ["POST /api/webhooks"],
        "the secret comes with the answer"
    );
    let body = api.calls()[0].body.clone().expect("json");
    assert_eq!(
        body,
        json!({
            "url": format!("{relay_url}/c/dev/millicast"),
            "isFeedHooks": true,
            "isRecordingHooks": true,
            "isThumbnailHooks": false,
            "isTranscoderHooks": false,
            "isViewerConnectionHooks": false
        })
    );
    session.wait_line(&format!(
        "registered millicast webhook 1 → {relay_url}/c/dev/millicast, feeds, recording (removed at exit)"
    ));
    // The platform's request goes to the URL registered, through the relay, and verifies.
    let secret = api.webhooks()["1"].secret.clone();
    let sent = place.run(&[
        "send",
        "millicast",
        "feeds.started",
        "--to",
        &format!("{relay_url}/c/dev/millicast"),
        "--secret",
        &secret,
    ]);
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    let captured = captures(&place, 1);
    assert_eq!(
        captured[0].derived.verdict.as_deref(),
        Some("valid"),
        "{:?}",
        captured[0]
    );
    let (status, stderr) = session.stop();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("removed millicast webhook 1 (deleted)"),
        "{stderr}"
    );
    assert_eq!(api.call_lines()[1..], ["DELETE /api/webhooks/1"]);
    assert!(api.webhooks().is_empty());
    assert!(place.records().is_empty());
    assert!(!written(&place, &stderr).contains(&secret));
}

#[test]
fn a_crashed_session_is_listed_and_cleaned_up_and_a_running_one_is_left_alone() {
    let place = Place::new();
    let api = Standin::start();
    let base = format!("optiview={}", api.url());
    let register = registering("optiview", &base);
    place.listen(&register).kill9();
    assert_eq!(api.webhooks().len(), 1, "kill -9 leaves it at the platform");
    let listed = place.run(&["registrations"]);
    let out = text(&listed.stdout);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    assert!(
        out.contains("optiview webhook wh_1 → https://h.example.test/optiview, all events, created ")
            && out.contains("(left by a session that ended without removing it)"),
        "{out}"
    );
    assert!(
        out.contains("`hookscope registrations --cleanup` removes what ended sessions left"),
        "{out}"
    );
    assert_eq!(api.webhooks().len(), 1, "listing removes nothing");

    // The next session of that platform says what was left, and runs.
    let running = place.listen(&register);
    let stderr = running.stderr();
    assert!(
        stderr.contains("an earlier hookscope session ended without removing its webhooks (`hookscope registrations --cleanup` removes them):")
            && stderr.contains("  optiview webhook wh_1 → https://h.example.test/optiview"),
        "{stderr}"
    );
    // A cleanup now removes the crashed session's webhook only.
    let cleaned = place.run(&["registrations", "--cleanup", "--api-base", &base]);
    let out = text(&cleaned.stdout);
    assert!(cleaned.status.success(), "{out}{}", text(&cleaned.stderr));
    assert!(
        out.contains("removed optiview webhook wh_1 (deactivated, deleted)"),
        "{out}"
    );
    assert!(
        out.contains("optiview webhook wh_2 → https://h.example.test/optiview, all events, created "),
        "{out}"
    );
    assert!(out.contains("(session running, pid "), "{out}");
    assert_eq!(api.webhooks().keys().collect::<Vec<_>>(), ["wh_2"]);
    let (status, stderr) = running.stop();
    assert!(status.success(), "{stderr}");
    assert!(api.webhooks().is_empty());
    let listed = place.run(&["registrations"]);
    assert!(
        text(&listed.stdout).starts_with("no registrations recorded"),
        "{}",
        text(&listed.stdout)
    );
    assert!(place.records().is_empty(), "{:?}", place.records());
}

/// `listen --register optiview` whose creation is answered `status` with `body`: it exits with
/// one line on stderr.
fn refused(status: u16, body: &str) -> String {
    refused_with(status, body)
        .strip_prefix(" answered ")
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("{status}"))
}

/// As [`refused`], the rest of the line after the request (` answered 401 …`, ` with a body …`).
fn refused_with(status: u16, body: &str) -> String {
    let place = Place::new();
    let api = Standin::start();
    api.answer_next("POST /v2/webhooks", status, body);
    let base = format!("optiview={}", api.url());
    let output = place.run(&headless(&registering("optiview", &base)));
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for value in [OPTIVIEW_KEY, OPTIVIEW_SECRET] {
        assert!(!stderr.contains(value), "{stderr}");
    }
    assert!(place.records().is_empty(), "{:?}", place.records());
    let prefix = format!(
        "hookscope: creating the optiview webhook: POST {}/v2/webhooks",
        api.url()
    );
    stderr
        .trim_end()
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{stderr}"))
        .to_owned()
}

#[test]
fn each_error_status_is_one_line_saying_what_to_check() {
    assert_eq!(
        refused(401, &format!(r#"{{"message":"bad token {OPTIVIEW_KEY}"}}"#)),
        "401 Unauthorized: optiview refused the API credentials from HOOKSCOPE_OPTIVIEW_API_KEY and \
         HOOKSCOPE_OPTIVIEW_API_SECRET (it said: bad token ***): check that they are a current API token's key and secret"
    );
    assert!(
        refused(403, "{}").starts_with("403 Forbidden: the API credentials from HOOKSCOPE_OPTIVIEW_API_KEY")
    );
    assert!(refused(404, "").starts_with("404 Not Found: there is no webhooks API at http://127.0.0.1:"));
    assert_eq!(
        refused(422, r#"{"message":"url must use https"}"#),
        "422 Unprocessable Entity: optiview refused what was sent (it said: url must use https): check --events \
         and that the webhook URL is public (https://)"
    );
    assert_eq!(
        refused(502, "<html>bad gateway</html>"),
        "502 Bad Gateway: optiview failed on its side: try again in a moment"
    );
}

#[test]
fn a_failure_after_the_creation_removes_the_webhook_again() {
    let place = Place::new();
    let api = Standin::start();
    api.answer_next("GET secret", 500, r#"{"message":"secret store down"}"#);
    let base = format!("optiview={}", api.url());
    let output = place.run(&headless(&registering("optiview", &base)));
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("removed optiview webhook wh_1 (deactivated, deleted)"),
        "{stderr}"
    );
    assert!(
        stderr.trim_end().ends_with(&format!(
            "hookscope: reading the secret of optiview webhook wh_1: GET {}/v2/webhooks/wh_1/secret answered 500 \
             Internal Server Error: optiview failed on its side (it said: secret store down): try again in a moment",
            api.url()
        )),
        "{stderr}"
    );
    assert!(api.webhooks().is_empty());
    assert!(place.records().is_empty());
}

#[test]
fn an_answer_without_an_id_says_what_came_back_redacted() {
    let place = Place::new();
    let api = Standin::start();
    api.answer_next(
        "POST /api/webhooks",
        200,
        r#"{"status":"success","result":{"webhookRef":"x9","secret":"c2VjcmV0c2VjcmV0"}}"#,
    );
    let base = format!("millicast={}", api.url());
    let output = place.run(&headless(&registering("millicast", &base)));
    assert!(!output.status.success());
    assert_eq!(
        text(&output.stderr).trim_end(),
        "hookscope: creating the millicast webhook: the answer (200 OK) holds no webhook id where millicast's \
         documentation and the usual envelopes put it (top level or under \"data\"); it was: \
         {\"status\":\"success\",\"result\":{\"webhookRef\":\"x9\",\"secret\":\"***\"}}; if it was created, \
         remove it in the millicast dashboard"
    );
}

#[test]
fn without_a_public_url_or_credentials_it_refuses_before_starting() {
    let place = Place::new();
    let output = place.run(&[
        "listen",
        "--headless",
        "--addr",
        "127.0.0.1:0",
        "--register",
        "optiview",
    ]);
    assert!(!output.status.success());
    assert_eq!(
        text(&output.stderr).trim_end(),
        "hookscope: --register optiview needs a public URL the platform can reach: add --public cloudflared \
         (a quick tunnel, no account), --relay URL --channel NAME (your relay), or --public-url URL (one you \
         already have)"
    );
    let output = place
        .command(&[
            "listen",
            "--headless",
            "--addr",
            "127.0.0.1:0",
            "--register",
            "millicast",
            "--public-url",
            "https://h.example.test",
        ])
        .env_remove("HOOKSCOPE_MILLICAST_API_SECRET")
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).starts_with(
            "hookscope: no Millicast API secret for millicast's webhooks: set HOOKSCOPE_MILLICAST_API_SECRET"
        ),
        "{}",
        text(&output.stderr)
    );
    assert!(!place.journal().exists(), "nothing started");
}

/// cloudflared as it prints its quick tunnel's URL (see tests/public.rs), then waiting.
const CLOUDFLARED: &str = r#"#!/bin/sh
log() { echo "2026-12-01T18:00:00Z INF $1" >&2; }
log "Requesting new quick Tunnel on trycloudflare.com..."
log "+--------------------------------------------------------------------------------------------+"
log "|  Your quick Tunnel has been created! Visit it at (it may take some time to be reachable):  |"
log "|  https://standin-register-words.trycloudflare.com                                          |"
log "+--------------------------------------------------------------------------------------------+"
exec sleep 600
"#;

#[test]
fn the_quick_tunnel_url_is_waited_for_then_registered() {
    let place = Place::new();
    let api = Standin::start();
    let (_, path) = cloudflared(&place, CLOUDFLARED);
    let base = format!("millicast={}", api.url());
    let session = place.listen_with(
        &[
            "--public",
            "cloudflared",
            "--register",
            "millicast",
            "--api-base",
            &base,
        ],
        &[("PATH", &path)],
    );
    let body = api.calls()[0].body.clone().expect("json");
    assert_eq!(
        body["url"],
        json!("https://standin-register-words.trycloudflare.com/millicast")
    );
    let stderr = session.stderr();
    assert!(
        stderr.contains("waiting for cloudflared's public URL to register the webhook…"),
        "{stderr}"
    );
    let (status, stderr) = session.stop();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("removed millicast webhook 1 (deleted)"),
        "{stderr}"
    );
    assert!(api.webhooks().is_empty());
}

/// The inspector's status bar shows what was registered; `q` removes it.
#[test]
fn the_status_bar_shows_the_registration_and_q_removes_it() {
    let place = Place::new();
    let api = Standin::start();
    let base = format!("optiview={}", api.url());
    let journal = place.journal().to_string_lossy().into_owned();
    let mut env: Vec<(&str, &str)> = CREDENTIALS.to_vec();
    let state = place.path().to_string_lossy().into_owned();
    env.push(("XDG_STATE_HOME", &state));
    let mut term = common::pty::Terminal::start_with(
        &[
            "listen",
            "--addr",
            "127.0.0.1:0",
            "--out",
            &journal,
            "--register",
            "optiview",
            "--public-url",
            "https://h.example.test",
            "--api-base",
            &base,
        ],
        place.path(),
        220,
        24,
        &env,
    );
    term.wait_for("the registration in the status bar", |screen| {
        screen.contains("optiview webhook wh_1 → https://h.example.test/optiview, all events")
    });
    term.type_keys("q");
    wait_for("the inspector to quit", Duration::from_secs(20), || {
        term.child.try_wait().ok().flatten()
    });
    assert!(api.webhooks().is_empty(), "{:?}", api.call_lines());
    assert_eq!(
        api.call_lines()[2..],
        ["PATCH /v2/webhooks/wh_1", "DELETE /v2/webhooks/wh_1"]
    );
}

/// An error exit after the registration (here `--smee`'s URL, checked once the listener runs)
/// removes the webhook all the same.
#[test]
fn an_error_exit_after_registering_removes_the_webhook() {
    let place = Place::new();
    let api = Standin::start();
    let base = format!("optiview={}", api.url());
    let output = place.run(&headless(
        &[
            &registering("optiview", &base)[..],
            &["--smee", "ftp://smee.example/x"],
        ]
        .concat(),
    ));
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("--smee ftp://smee.example/x: expected https://smee.io/CHANNEL"),
        "{stderr}"
    );
    assert!(
        stderr.contains("removed optiview webhook wh_1 (deactivated, deleted)"),
        "{stderr}"
    );
    assert_eq!(
        api.call_lines(),
        [
            "POST /v2/webhooks",
            "GET /v2/webhooks/wh_1/secret",
            "PATCH /v2/webhooks/wh_1",
            "DELETE /v2/webhooks/wh_1"
        ]
    );
    assert!(api.webhooks().is_empty());
    assert!(place.records().is_empty(), "{:?}", place.records());
}

/// cloudflared that never gets its tunnel: it says so, then waits.
const CLOUDFLARED_STUCK: &str = r#"#!/bin/sh
echo $$ > "$STANDIN_DIR/cloudflared.pid"
echo "2026-12-01T18:00:00Z INF Requesting new quick Tunnel on trycloudflare.com..." >&2
exec sleep 600
"#;

/// SIGTERM while `listen` waits for the tunnel's URL ends the wait: nothing is registered, and
/// the tunnel's child is stopped.
#[test]
fn a_signal_while_waiting_for_the_tunnel_registers_nothing_and_stops_the_child() {
    let place = Place::new();
    let api = Standin::start();
    let (bin, path) = cloudflared(&place, CLOUDFLARED_STUCK);
    let base = format!("optiview={}", api.url());
    let mut child = place
        .command(&[
            "listen",
            "--headless",
            "--addr",
            "127.0.0.1:0",
            "--public",
            "cloudflared",
            "--register",
            "optiview",
            "--api-base",
            &base,
        ])
        .env("PATH", &path)
        .env("STANDIN_DIR", &bin)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (lines, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut all = Vec::new();
    while !all
        .iter()
        .any(|l: &String| l.starts_with("waiting for cloudflared's public URL"))
    {
        all.push(
            seen.recv_timeout(Duration::from_secs(20))
                .expect("the waiting line"),
        );
    }
    let pid: u32 = wait_for("the stand-in's pid", Duration::from_secs(10), || {
        std::fs::read_to_string(bin.join("cloudflared.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    });
    signal(child.id(), "-TERM");
    let status = child.wait().expect("wait");
    all.extend(seen.iter());
    assert!(!status.success());
    assert_eq!(
        all.last().map(String::as_str),
        Some("hookscope: interrupted while waiting for the tunnel's URL; nothing was registered"),
        "{all:?}"
    );
    assert!(api.calls().is_empty());
    wait_for("the tunnel's child to be gone", Duration::from_secs(10), || {
        (!Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    });
}

/// At exit, a removal that fails stays recorded (the line says how to remove it later, and
/// `registrations --cleanup` does), and a webhook the platform no longer has is not an error.
#[test]
fn a_removal_failing_at_exit_stays_recorded_for_cleanup() {
    let place = Place::new();
    let api = Standin::start();
    let session = listen_both(&place, &api);
    session.wait_line(
        "registered optiview webhook wh_1 → https://h.example.test/optiview, all events (removed at exit)",
    );
    session.wait_line(
        "registered millicast webhook 2 → https://h.example.test/millicast, all events (removed at exit)",
    );
    api.answer_next("DELETE", 503, r#"{"message":"maintenance"}"#);
    api.answer_next("DELETE /api/webhooks", 404, r#"{"status":"fail"}"#);
    let (status, stderr) = session.stop();
    assert!(
        !status.success(),
        "a webhook left registered is an exit code too: {stderr}"
    );
    assert!(
        stderr.trim_end().ends_with(
            "hookscope: 1 webhook left registered, recorded for `hookscope registrations --cleanup`, which removes it"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "deleting optiview webhook wh_1: DELETE {}/v2/webhooks/wh_1 answered 503 Service Unavailable: optiview \
             failed on its side (it said: maintenance): try again in a moment; it is still registered: \
             `hookscope registrations --cleanup` removes it",
            api.url()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("removed millicast webhook 2 (gone already)"),
        "{stderr}"
    );
    let listed = text(&place.run(&["registrations"]).stdout);
    assert!(
        listed.starts_with("optiview webhook wh_1 → https://h.example.test/optiview"),
        "{listed}"
    );
    assert!(!listed.contains("millicast webhook"), "{listed}");
    let optiview = format!("optiview={}", api.url());
    let cleaned = place.run(&["registrations", "--cleanup", "--api-base", &optiview]);
    assert!(cleaned.status.success(), "{}", text(&cleaned.stderr));
    assert!(text(&cleaned.stdout).contains("removed optiview webhook wh_1 (deactivated, deleted)"));
    assert!(!api.webhooks().contains_key("wh_1"));
    assert!(place.records().is_empty(), "{:?}", place.records());
}

/// An API that cannot be reached is one line too, naming the step and what to check.
#[test]
fn an_api_that_cannot_be_reached_is_one_line() {
    let place = Place::new();
    let port = common::free_port();
    let down = port.addr;
    let base = format!("millicast=http://{down}");
    let output = place.run(&headless(&registering("millicast", &base)));
    assert!(!output.status.success());
    assert_eq!(
        text(&output.stderr).trim_end(),
        format!(
            "hookscope: creating the millicast webhook: POST http://{down}/api/webhooks: connection refused: \
             check the network, or --api-base millicast=URL (now http://{down})"
        )
    );
    assert!(place.records().is_empty());
}

/// `listen --register optiview` at `api`, killed with -9 once registered: its webhook is left,
/// recorded with `api` as the API it was registered through.
fn crashed_session(place: &Place, api: &Standin) {
    let base = format!("optiview={}", api.url());
    place.listen(&registering("optiview", &base)).kill9();
    assert_eq!(api.webhooks().len(), 1);
}

/// A record is anyone's text: the API it names gets the credentials only if it is the
/// platform's documented one or given on this command line (red team #18: a planted record
/// naming the attacker's API got the user's credentials).
#[test]
fn cleanup_sends_credentials_only_to_the_documented_api_or_one_given_here() {
    let place = Place::new();
    let api = Standin::start();
    crashed_session(&place, &api);
    let calls = api.calls().len();
    let refused = place.run(&["registrations", "--cleanup"]);
    let stderr = text(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "optiview webhook wh_1 was registered through {}, not optiview's documented API (https://api.theo.live): \
             your credentials are not sent there on a record's word; if that API is truly yours, run \
             `hookscope registrations --cleanup --api-base optiview=URL`, else remove the record",
            api.url()
        )),
        "{stderr}"
    );
    assert!(
        stderr
            .trim_end()
            .ends_with("1 webhook could not be removed; it stays recorded for another --cleanup"),
        "{stderr}"
    );
    assert_eq!(api.calls().len(), calls, "not one request to the recorded API");
    assert!(text(&refused.stdout).contains("optiview webhook wh_1 → https://h.example.test/optiview"));
    // Given here, it is the user's word: removed.
    let base = format!("optiview={}", api.url());
    let cleaned = place.run(&["registrations", "--cleanup", "--api-base", &base]);
    assert!(cleaned.status.success(), "{}", text(&cleaned.stderr));
    assert!(api.webhooks().is_empty());
    assert!(place.records().is_empty(), "{:?}", place.records());
}

/// Without HOME or XDG_STATE_HOME there is no directory surely the user's: refused, not a
/// shared /tmp one; a relative XDG_STATE_HOME is ignored (the XDG spec), HOME used.
#[test]
fn the_record_is_never_in_a_shared_directory() {
    let place = Place::new();
    let refused = place
        .command(&["registrations"])
        .env_remove("XDG_STATE_HOME")
        .env_remove("HOME")
        .env("TMPDIR", place.path())
        .output()
        .expect("run");
    assert!(!refused.status.success());
    assert_eq!(
        text(&refused.stderr).trim_end(),
        "hookscope: neither XDG_STATE_HOME nor HOME is set to an absolute path, and the registrations record is \
         kept only in a directory of your own, never a shared /tmp: set XDG_STATE_HOME or HOME"
    );
    assert!(!place.path().join("hookscope").exists());
    let home = place.path().join("home");
    let listed = place
        .command(&["registrations"])
        .env("XDG_STATE_HOME", "state")
        .env("HOME", &home)
        .output()
        .expect("run");
    assert_eq!(
        text(&listed.stdout).trim_end(),
        format!(
            "no registrations recorded (in {})",
            home.join(".local/state/hookscope/registrations").display()
        )
    );
}

/// A listing creates nothing (no lock file beside each record, garbage included), and the
/// names it prints are escaped: a file named with escape sequences does not reach the terminal.
#[test]
fn a_listing_creates_no_file_and_escapes_every_name() {
    let place = Place::new();
    let api = Standin::start();
    crashed_session(&place, &api);
    let dir = place.state().join("hookscope/registrations");
    for name in place.records().iter().filter(|n| n.ends_with(".lock")) {
        std::fs::remove_file(dir.join(name)).expect("rm");
    }
    std::fs::write(dir.join("\x1b]0;owned\x07\x1b[2J.json"), "{not json").expect("write");
    std::fs::write(dir.join("garbage.json"), "").expect("write");
    let before = place.records();
    let listed = place.run(&["registrations"]);
    let out = text(&listed.stdout);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    assert_eq!(place.records(), before, "{out}");
    assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out:?}");
    assert!(
        out.contains(r"/hookscope/registrations/\x1b]0;owned\x07\x1b[2J.json: not a registrations file"),
        "{out}"
    );
    assert!(
        out.contains("optiview webhook wh_1 → https://h.example.test/optiview, all events, created ")
            && out.contains("(left by a session that ended without removing it)"),
        "{out}"
    );
}

/// What a platform answered is shown with no credential or secret in it, whatever its shape:
/// a credential-named field holding an object or an array, a body that is not JSON.
#[test]
fn an_answer_shown_keeps_no_secret_whatever_its_shape() {
    for (body, shown) in [
        (
            r#"{"secret":{"value":"plain1"},"signingKey":["plain2"],"hmac":"plain3","note":"whsec_plain4"}"#,
            r#"{"secret":"***","signingKey":"***","hmac":"***","note":"***"}"#,
        ),
        (
            r#"{"id": NaN, "secret": "plain5"}"#,
            r#"{"id": NaN, "secret": "***"}"#,
        ),
        (
            "denied: api_key=plain6&client_secret=plain7",
            "denied: api_key=***&client_secret=***",
        ),
    ] {
        let line = refused(418, body);
        assert_eq!(line, format!("418 I'm a teapot: unexpected answer: {shown}"));
        assert!(!line.contains("plain"), "{line}");
    }
}

/// An HTML page (a proxy's, a captive portal's) answered 200 to GET …/secret is no secret: the
/// session says what came back and removes the webhook again.
#[test]
fn an_html_page_is_not_taken_for_the_secret() {
    let place = Place::new();
    let api = Standin::start();
    api.answer_next_typed("GET secret", 200, "text/html; charset=utf-8", "portal-login");
    let base = format!("optiview={}", api.url());
    // Spawned, not run: with the page taken for the secret, the session would run on.
    let mut child = place
        .command(&headless(&registering("optiview", &base)))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_for("listen to give up", Duration::from_secs(20), || {
        child.try_wait().expect("try_wait").map(|_| ())
    });
    let output = child.wait_with_output().expect("output");
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.trim_end().ends_with(
            "hookscope: reading the secret of optiview webhook wh_1: the answer (200 OK) holds no signing secret \
             where optiview's documentation and the usual envelopes put it (top level or under \"data\"); it was: \
             portal-login"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("removed optiview webhook wh_1 (deactivated, deleted)"),
        "{stderr}"
    );
    assert!(api.webhooks().is_empty());
}

/// An answer over 1 MiB is said to be too large, not a network failure.
#[test]
fn an_answer_too_large_says_so() {
    let body = format!(r#"{{"message":"{}"}}"#, "x".repeat(1 << 21));
    let line = refused_with(500, &body);
    assert!(
        line.ends_with(
            " with a body over 1024 KiB, more than a webhooks API answers (is --api-base this API?)"
        ),
        "{line}"
    );
    assert!(!line.contains("check the network"), "{line}");
}

/// A platform that does not answer at exit: each removal says what it waits for, the others go
/// on meanwhile, a second Ctrl-C leaves it recorded at once, and the exit code says so.
#[test]
fn a_platform_that_does_not_answer_at_exit_can_be_left_with_a_second_ctrl_c() {
    let place = Place::new();
    let api = Standin::start();
    let session = listen_both(&place, &api);
    session.wait_line(
        "registered millicast webhook 2 → https://h.example.test/millicast, all events (removed at exit)",
    );
    api.hang_next("PATCH");
    let pid = session.child.id();
    let interrupt = || signal(pid, "-INT");
    interrupt();
    session.wait_line(
        "removing the optiview webhook wh_1 (Ctrl-C again to leave it for `hookscope registrations --cleanup`)",
    );
    // Millicast's removal does not wait for OptiView's.
    session.wait_line("removed millicast webhook 2 (deleted)");
    wait_for(
        "the deactivation to reach the API",
        Duration::from_secs(10),
        || {
            api.call_lines()
                .contains(&"PATCH /v2/webhooks/wh_1".to_owned())
                .then_some(())
        },
    );
    interrupt();
    let mut session = session;
    let status = session.child.wait().expect("wait");
    // Its last line comes after the summary, and may still be in the pipe.
    session.stderr.wait_ended(Duration::from_secs(10));
    let stderr = session.stderr();
    assert!(!status.success(), "{stderr}");
    assert!(
        !stderr.contains("no answer within"),
        "left at the second Ctrl-C: {stderr}"
    );
    assert!(
        stderr.trim_end().ends_with(
            "hookscope: 1 webhook left registered, recorded for `hookscope registrations --cleanup`, which removes it"
        ),
        "{stderr}"
    );
    let listed = text(&place.run(&["registrations"]).stdout);
    assert!(listed.starts_with("optiview webhook wh_1 → "), "{listed}");
    assert!(!listed.contains("millicast"), "{listed}");
}

/// A Ctrl-C while the platform's API is creating the webhook says what it waits for; a second
/// one leaves at once.
#[test]
fn a_ctrl_c_while_creating_says_it_waits_and_a_second_leaves() {
    let place = Place::new();
    let api = Standin::start();
    api.hang_next("POST /v2/webhooks");
    let base = format!("optiview={}", api.url());
    let mut child = place
        .command(&headless(&registering("optiview", &base)))
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_for("the creation to reach the API", Duration::from_secs(10), || {
        (!api.calls().is_empty()).then_some(())
    });
    let pid = child.id();
    let stderr = child.stderr.take().expect("stderr");
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = lines.clone();
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().expect("lock").push(line);
            }
        })
    };
    let interrupt = || signal(pid, "-INT");
    interrupt();
    wait_for(
        "the line saying what it waits for",
        Duration::from_secs(10),
        || {
            lines
            .lock()
            .expect("lock")
            .iter()
            .any(|l| {
                l == "interrupted: waiting for optiview's API to answer (up to 15s a call), then removing what was \
                      registered; Ctrl-C again to leave at once"
            })
            .then_some(())
        },
    );
    interrupt();
    let status = child.wait().expect("wait");
    reader.join().expect("reader");
    let stderr = lines.lock().expect("lock").join("\n");
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "hookscope: interrupted twice while registering: the optiview webhook being created may stay at \
             optiview unrecorded (check its dashboard for webhooks named \"hookscope "
        ),
        "{stderr}"
    );
    assert!(
        place.records().iter().all(|n| !n.ends_with(".json")),
        "{:?}",
        place.records()
    );
    assert!(!stderr.contains("no answer within"), "{stderr}");
}

/// The relay URL's user and password are on no line, and --register refuses to hand them to
/// the platform in the webhook's URL.
#[test]
fn the_relay_urls_password_is_never_shown_nor_registered() {
    let place = Place::new();
    let data = place.path().join("relay-data");
    let relay = relay_harness::Relay::start(&data, &[]);
    let token = relay_harness::create_token(&data, "dev");
    let with_password = relay.url().replacen("://", "://u:hunter2@", 1);
    let output = place.run(&[
        "listen",
        "--headless",
        "--addr",
        "127.0.0.1:0",
        "--relay",
        &with_password,
        "--channel",
        "dev",
        "--token",
        &token,
        "--register",
        "optiview",
    ]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(
        stderr.trim_end(),
        format!(
            "hookscope: --relay {} holds a user or password, which --register would hand to the platform in the \
             webhook's URL: give --public-url with the URL the platform is to send to (the relay's /c/CHANNEL needs none)",
            relay.url().replacen("://", "://***@", 1)
        )
    );
    let session = place.listen(&["--relay", &with_password, "--channel", "dev", "--token", &token]);
    let stderr = wait_for("a relay line", Duration::from_secs(20), || {
        let stderr = session.stderr();
        stderr.lines().any(|l| l.starts_with("relay: ")).then_some(stderr)
    });
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "({} channel dev as ",
            relay.url().replacen("://", "://***@", 1)
        )),
        "{stderr}"
    );
}
