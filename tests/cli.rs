//! The binary's contract outside the happy path: clear errors, exit codes, damaged journals.

mod common;

use std::io::Write;

use common::{Listener, binary, post, send_raw};

fn run(args: &[&str]) -> (i32, String, String) {
    let output = binary().args(args).output().expect("run hookscope");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn an_address_in_use_is_a_one_line_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("c.jsonl");
    let (code, _, stderr) = run(&["listen", "--addr", &addr, "--out", out.to_str().expect("utf-8")]);
    assert_eq!(code, 1);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("hookscope: cannot listen on {addr}: ")),
        "{stderr}"
    );
    assert!(stderr.to_lowercase().contains("in use"), "{stderr}");
}

#[test]
fn an_unwritable_journal_is_a_one_line_error() {
    let (code, _, stderr) = run(&[
        "listen",
        "--addr",
        "127.0.0.1:0",
        "--out",
        "/nonexistent-dir/c.jsonl",
    ]);
    assert_eq!(code, 1);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("hookscope: cannot open journal /nonexistent-dir/c.jsonl: "),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

#[test]
fn bad_flags_are_explained() {
    let (code, _, stderr) = run(&["listen", "--max-body", "ten"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("is not a size"), "{stderr}");
    let (code, _, stderr) = run(&["listen", "--respond-header", "no colon here"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("is not `Name: value`"), "{stderr}");
}

#[test]
fn help_describes_every_command() {
    let (code, stdout, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for command in ["listen", "log"] {
        assert!(stdout.contains(command), "{stdout}");
    }
    let (code, stdout, _) = run(&["listen", "--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--addr",
        "--out",
        "--headless",
        "--json",
        "--max-body",
        "--fsync",
        "Examples:",
    ] {
        assert!(stdout.contains(flag), "{flag} missing from: {stdout}");
    }
}

#[tokio::test]
async fn a_damaged_journal_loads_every_good_record_and_grows_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("damaged.jsonl");

    // Three good captures from a real session.
    let mut listener = Listener::start_with_journal(&path, &[]);
    for n in 1..=3 {
        send_raw(listener.addr, &post(&format!("/good/{n}"), &[], b"{}"))
            .await
            .expect("response");
    }
    listener.stop();

    // Corrupt the middle line and tear a fourth record in half, as a crash would.
    let text = std::fs::read_to_string(&path).expect("journal");
    let lines: Vec<&str> = text.lines().collect();
    let damaged = format!(
        "{}\n{}\n{}\n{}",
        lines[0],
        &lines[1][..lines[1].len() - 30],
        lines[2],
        &lines[0][..40]
    );
    std::fs::write(&path, damaged).expect("write damaged journal");

    let (code, stdout, stderr) = run(&["log", path.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{stderr}");
    let shown: Vec<&str> = stdout.lines().collect();
    assert_eq!(shown.len(), 2, "{stdout}");
    assert!(
        shown[0].contains("/good/1") && shown[1].contains("/good/3"),
        "{stdout}"
    );
    assert!(stderr.contains("line 2: corrupt record skipped"), "{stderr}");
    assert!(stderr.contains("line 4: torn last line skipped"), "{stderr}");
    assert!(stderr.contains("2 captures, 2 lines skipped"), "{stderr}");

    // Listening again appends on a fresh line: the torn one stays isolated.
    let mut listener = Listener::start_with_journal(&path, &[]);
    send_raw(listener.addr, &post("/good/4", &[], b"{}"))
        .await
        .expect("response");
    let (_, _, stderr) = listener.stop();
    assert!(stderr.contains("ended in a torn line"), "{stderr}");
    let loaded = hookscope::journal::load(&path).expect("load");
    let paths: Vec<String> = loaded
        .entries
        .iter()
        .map(|e| match &e.record {
            hookscope::codec::Record::Capture(c) => c.path.clone(),
            hookscope::codec::Record::Attempt(a) => a.target.clone(),
        })
        .collect();
    assert_eq!(paths, ["/good/1", "/good/3", "/good/4"]);
    assert_eq!(loaded.problems.len(), 2);
}

#[test]
fn log_json_reprints_the_records() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("one.jsonl");
    let line = r#"{"v":1,"kind":"capture","id":"01M8255RED72P9BKR86VA5N0DN","received_at":"2026-11-22T17:34:30.349676858Z","remote_addr":"127.0.0.1:54434","via":"direct","method":"POST","path":"/hooks","version":"HTTP/1.1","headers":[["Host","x"]],"body_encoding":"utf8","body":"{}","body_size":2,"status":200}"#;
    let mut file = std::fs::File::create(&path).expect("create");
    writeln!(file, "{line}").expect("write");
    let (code, stdout, _) = run(&["log", "--json", path.to_str().expect("utf-8")]);
    assert_eq!(code, 0);
    assert_eq!(stdout.trim_end(), line);
}

#[test]
fn log_of_a_missing_file_is_a_clear_error() {
    let (code, _, stderr) = run(&["log", "/nonexistent/captures.jsonl"]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("hookscope: cannot open /nonexistent/captures.jsonl: "),
        "{stderr}"
    );
}
