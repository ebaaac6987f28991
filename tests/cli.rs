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

#[test]
fn log_prints_attempts_under_their_own_capture_and_json_prints_captures() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("j.jsonl");
    let capture = |n: u32| {
        format!(
            r#"{{"v":1,"kind":"capture","id":"01M8255RED72P9BKR86VA5N0D{n}","received_at":"2026-11-22T17:34:3{n}.349676858Z","remote_addr":"127.0.0.1:54434","via":"direct","method":"POST","path":"/c/{n}","version":"HTTP/1.1","headers":[],"body_encoding":"utf8","body":"{{}}","body_size":2,"status":200}}"#
        )
    };
    // Two replays of the second capture, journaled after the third, as a later `replay` does.
    let attempt = |mode: &str, status: u16| {
        format!(
            r#"{{"v":1,"kind":"attempt","capture":"01M8255RED72P9BKR86VA5N0D2","mode":"{mode}","number":1,"target":"http://127.0.0.1:3000/c/2","started_at":"2026-11-23T10:00:00Z","latency_us":2000,"status":{status},"headers":[],"body_encoding":"utf8","body":"","body_size":0,"truncated":false}}"#
        )
    };
    let text = [
        capture(1),
        capture(2),
        capture(3),
        attempt("replay", 500),
        attempt("resigned", 200),
    ]
    .join("\n");
    std::fs::write(&path, text + "\n").expect("write");
    let file = path.to_str().expect("utf-8");

    let (code, stdout, stderr) = run(&["log", file]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    assert!(lines[1].contains("/c/2"), "{stdout}");
    assert!(
        lines[2].contains("→ 500") && lines[2].contains("(replay)"),
        "{stdout}"
    );
    assert!(
        lines[3].contains("→ 200") && lines[3].contains("(resigned)"),
        "{stdout}"
    );
    assert!(lines[4].contains("/c/3"), "{stdout}");

    // --json: the capture records only, so `jq 'select(.status != 200)'` sees captures.
    let (code, stdout, _) = run(&["log", "--json", file]);
    assert_eq!(code, 0);
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(
        stdout.lines().all(|l| l.contains(r#""kind":"capture""#)),
        "{stdout}"
    );
    let (code, stdout, _) = run(&["log", "--json", "--attempts", file]);
    assert_eq!(code, 0);
    let kinds: Vec<bool> = stdout
        .lines()
        .map(|l| l.contains(r#""kind":"attempt""#))
        .collect();
    assert_eq!(kinds, [false, false, true, true, false], "{stdout}");
}

#[test]
fn log_of_a_file_that_is_not_a_journal_fails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "shopping list\neggs\n").expect("write");
    let (code, stdout, stderr) = run(&["log", path.to_str().expect("utf-8")]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stderr.contains("is not a hookscope journal"), "{stderr}");
}

#[test]
fn values_that_would_do_nothing_useful_are_refused_with_the_reason() {
    for (args, expected) in [
        (
            &["listen", "--forward-timeout", "0s"][..],
            "a timeout of 0 would fail everything",
        ),
        (
            &["listen", "--read-timeout", "0"][..],
            "a timeout of 0 would fail everything",
        ),
        (
            &[
                "replay",
                "x.jsonl",
                "--to",
                "http://127.0.0.1:9",
                "--timeout",
                "0ms",
            ][..],
            "a timeout of 0",
        ),
        (
            &["relay", "--queue-bytes", "0"][..],
            "a limit of 0 refuses everything",
        ),
        (&["relay", "--queue-limit", "0"][..], "0 would refuse everything"),
        (
            &["listen", "--max-body", "99999999999999999999999"][..],
            "too large a size",
        ),
        (
            &["listen", "--max-body", "5GiB"][..],
            "more than hookscope can hold",
        ),
    ] {
        let (code, _, stderr) = run(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn confusing_inputs_get_plain_answers() {
    // A path where a PEM key belongs: say what is expected, not what the PEM parser tripped on.
    let (code, _, stderr) = run(&["listen", "--headless", "--secret", "dyte=notapem"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("expected an RSA public key in PEM form") && stderr.contains("file: prefix"),
        "{stderr}"
    );
    assert!(!stderr.contains("NUL byte"), "{stderr}");

    // An unreadable profile directory is a warning, in plain text when stderr is not a terminal.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("hookscope")).expect("config dir");
    std::fs::write(dir.path().join("hookscope/providers"), "not a directory").expect("file");
    let output = binary()
        .env("XDG_CONFIG_HOME", dir.path())
        .env_remove("NO_COLOR")
        .args(["providers"])
        .output()
        .expect("run providers");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("cannot read your profiles in"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no colour codes in a redirected log: {stderr:?}"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("optiview"));
}

#[test]
fn completions_for_every_shell_and_a_man_page() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, stdout, stderr) = run(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {stderr}");
        for word in ["listen", "replay", "--forward"] {
            assert!(stdout.contains(word), "{shell} completion lacks {word}");
        }
    }
    // bash loads it and completes the subcommands.
    let (_, script, _) = run(&["completions", "bash"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("hookscope.bash");
    std::fs::write(&file, script).expect("write");
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; COMP_WORDS=(hookscope li); COMP_CWORD=1; _hookscope hookscope li hookscope; echo \"${{COMPREPLY[@]}}\"",
            file.display()
        ))
        .output()
        .expect("run bash");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "listen",
        "{output:?}"
    );

    let (code, page, _) = run(&["man"]);
    assert_eq!(code, 0);
    assert!(
        page.starts_with(".ie") || page.contains(".TH hookscope 1"),
        "{page}"
    );
    for section in [
        ".SH \"HOOKSCOPE LISTEN\"",
        ".SH \"HOOKSCOPE RELAY\"",
        "\\-\\-forward",
    ] {
        assert!(page.contains(section), "the man page lacks {section}");
    }
}

#[test]
fn listen_will_not_append_captures_to_a_file_that_is_not_a_journal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "my notes\nkeep them\n").expect("write");
    let output = binary()
        .args(["listen", "--headless", "--addr", "127.0.0.1:0", "--out"])
        .arg(&notes)
        .output()
        .expect("run listen");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is not a hookscope journal"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&notes).expect("read"),
        "my notes\nkeep them\n"
    );
}
