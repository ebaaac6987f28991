//! README promises with no other home: `verify`'s exit status, a body search that ignores case
//! beyond ASCII, and secrets kept out of the inspector's log file.

mod common;

use std::path::Path;

use bytes::Bytes;
use chrono::Utc;
use common::pty::Terminal;
use common::{binary, captures_in};
use hookscope::capture::{Capture, CaptureId, Derived, Header, Via};
use hookscope::provider::Catalog;
use hookscope::{codec, config, sample, verify};

fn capture(path: &str, headers: Vec<Header>, body: Bytes) -> Capture {
    Capture {
        id: CaptureId::generate(),
        received_at: Utc::now(),
        remote_addr: "203.0.113.7:443".into(),
        via: Via::Direct,
        method: "POST".into(),
        path: path.into(),
        query: None,
        version: "HTTP/1.1".into(),
        headers,
        body,
        status: 200,
        note: None,
        derived: Derived::default(),
    }
}

/// A capture of `provider`'s first sample event, signed with `secret` just now.
fn signed(provider: &str, secret: &str) -> Capture {
    let catalog = Catalog::builtin();
    let profile = catalog.get(provider).expect("profile");
    let now = Utc::now();
    let rendered = sample::render(&profile.samples[0], now, &[]).expect("renders");
    let mut headers = rendered.headers;
    let key = config::signing_key(profile, secret).expect("key");
    let path = format!("/hooks/{provider}");
    verify::sign_headers(
        &profile.scheme,
        "POST",
        &path,
        &mut headers,
        &rendered.body,
        &key,
        now.timestamp(),
    )
    .expect("signs");
    capture(&path, headers, rendered.body)
}

fn write_journal(path: &Path, captures: &[Capture]) {
    let lines: Vec<u8> = captures.iter().flat_map(codec::encode_capture).collect();
    std::fs::write(path, lines).expect("write journal");
}

/// Runs hookscope with `args`; returns the exit code, stdout and stderr.
fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let output = binary().args(args).output().expect("run hookscope");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn verify_exits_0_when_every_capture_is_valid_and_non_zero_otherwise() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("captures.jsonl");
    let path = file.to_str().expect("utf-8");
    let secrets = [
        "--secret",
        "optiview=dolby_sec_test",
        "--secret",
        "github=gh_secret",
    ];
    let mut captures = vec![
        signed("optiview", "dolby_sec_test"),
        signed("github", "gh_secret"),
    ];
    write_journal(&file, &captures);

    let (code, stdout, stderr) = run(&[&["verify", path][..], &secrets].concat());
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stderr.contains("2 of 2 captures valid"), "{stderr}");

    // Without the secrets they are `no-secret`, not valid.
    let (code, _, stderr) = run(&["verify", path]);
    assert_eq!(code, Some(1), "{stderr}");

    // One capture whose body changed after signing.
    let mut tampered = signed("github", "gh_secret");
    tampered.body = Bytes::from_static(b"{\"changed\":true}");
    captures.push(tampered);
    write_journal(&file, &captures);
    let (code, _, stderr) = run(&[&["verify", path][..], &secrets].concat());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("1 of 3 captures are not valid"), "{stderr}");

    // Nothing to verify is not a success either.
    write_journal(&file, &[]);
    let (code, _, stderr) = run(&[&["verify", path][..], &secrets].concat());
    assert_eq!(code, Some(1), "{stderr}");
}

/// A journal of a summer and a winter capture; returns its path.
fn seasons(dir: &Path, summer: &str) -> String {
    let file = dir.join("seasons.jsonl");
    write_journal(
        &file,
        &[
            capture(
                "/summer",
                vec![],
                Bytes::from(format!("{{\"note\":\"{summer}\"}}")),
            ),
            capture("/winter", vec![], Bytes::from_static(b"{\"note\":\"hiver\"}")),
        ],
    );
    file.to_str().expect("utf-8").to_owned()
}

/// The paths `log FILE --filter FILTER` prints.
fn found(file: &str, filter: &str) -> Vec<&'static str> {
    let (code, stdout, stderr) = run(&["log", file, "--filter", filter]);
    assert_eq!(code, Some(0), "{stderr}");
    ["/summer", "/winter"]
        .into_iter()
        .filter(|path| stdout.contains(path))
        .collect()
}

#[test]
fn an_uppercase_non_ascii_body_search_finds_the_lowercase_text() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = seasons(dir.path(), "un été chaud");
    assert_eq!(found(&file, "body:ÉTÉ"), ["/summer"]);
    assert_eq!(
        found(&file, "ÉTÉ"),
        ["/summer"],
        "a bare word searches the body too"
    );
}

#[test]
fn a_lowercase_non_ascii_body_search_finds_the_uppercase_text() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = seasons(dir.path(), "UN ÉTÉ CHAUD");
    assert_eq!(found(&file, "body:été"), ["/summer"]);
    assert_eq!(found(&file, "body:Été"), ["/summer"]);
}

/// The address on the inspector's status bar, read from a whole frame (a screen read in the
/// middle of one can hold half an address).
fn address(inspector: &Terminal) -> String {
    let screen = inspector.wait_for("the status bar", |s| s.contains("● http://"));
    let rest = screen.split("● http://").nth(1).unwrap_or_default();
    rest.split_whitespace().next().unwrap_or_default().to_owned()
}

#[test]
fn secrets_are_not_in_the_inspectors_log_file_even_at_trace() {
    const SECRET: &str = "dolby_sec_inspector_41d7";
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state");
    let journal = dir.path().join("captures.jsonl");
    let journal_arg = journal.to_str().expect("utf-8");
    let secret_flag = format!("optiview={SECRET}");
    let inspector = Terminal::start_with(
        &[
            "listen",
            "--addr",
            "127.0.0.1:0",
            "--out",
            journal_arg,
            "--secret",
            &secret_flag,
        ],
        dir.path(),
        120,
        30,
        &[
            ("RUST_LOG", "trace"),
            ("XDG_STATE_HOME", state.to_str().expect("utf-8")),
        ],
    );
    let url = format!("http://{}/hooks", address(&inspector));
    for secret in [SECRET, "a-wrong-secret"] {
        let status = binary()
            .args([
                "send",
                "optiview",
                "channel.stopped",
                "--to",
                &url,
                "--secret",
                secret,
            ])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run hookscope send");
        assert!(status.success());
    }
    // `send` is answered once its capture is journaled.
    let verdicts: Vec<Option<String>> = captures_in(&journal)
        .into_iter()
        .map(|c| c.derived.verdict)
        .collect();
    assert_eq!(
        verdicts,
        [Some("valid".to_owned()), Some("invalid".to_owned())],
        "the secret was in use"
    );
    inspector.quit();
    let log = std::fs::read_to_string(state.join("hookscope/hookscope.log")).expect("the log file");
    assert!(log.contains("TRACE"), "trace logging went to the file: {log}");
    let leak = log.lines().find(|line| line.contains(SECRET));
    assert!(leak.is_none(), "the log file holds the secret: {leak:?}");
}
