//! Cross-checks against independent implementations, both ways: the senders' documented sample
//! code under node (millicast, optiview, shopify, dyte, zoom, meta; and Zoom's and Meta's
//! endpoint checks against the handshakes `listen` answers) and the official Standard Webhooks and
//! Stripe libraries under python verify what `hookscope send` signs, and `hookscope listen`
//! verifies what they sign. With `CI` set, a tool that cannot be had fails instead of skipping.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use common::{Listener, binary};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/crosscheck");

/// A peer process (their receiver), killed when dropped.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a receiver that prints its port on its first line.
fn start_peer(mut command: Command) -> (Peer, u16) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start peer");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read port");
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("peer printed {line:?}, not a port"));
    (Peer(child), port)
}

fn node(args: &[&str]) -> Command {
    let mut command = Command::new("node");
    command.arg(format!("{SCRIPTS}/senders.js")).args(args);
    command
}

/// (secret for our side, key argument for theirs when serving, key argument when sending)
fn keys(provider: &str) -> (String, String, String) {
    match provider {
        "millicast" => {
            let secret = "c2VjcmV0LWZvci1taWxsaWNhc3Q=".to_owned();
            (secret.clone(), secret.clone(), secret)
        }
        "optiview" => {
            let secret = "dolby_sec_myverylittlesecret".to_owned();
            (secret.clone(), secret.clone(), secret)
        }
        "shopify" => {
            let secret = "shpss_a1b2c3d4e5f6".to_owned();
            (secret.clone(), secret.clone(), secret)
        }
        "zoom" => {
            let secret = "zoom_Wh4tEv3rS3cr3tT0k3n".to_owned();
            (secret.clone(), secret.clone(), secret)
        }
        "meta" => {
            let secret = "0123456789abcdef0123456789abcdef".to_owned();
            (secret.clone(), secret.clone(), secret)
        }
        _ => (
            format!("file:{FIXTURES}/dyte-public.pem"),
            format!("{FIXTURES}/dyte-public.pem"),
            format!("{FIXTURES}/dyte-private.pem"),
        ),
    }
}

fn send_all(provider: &str, port: u16, secret_or_key: &[&str]) -> std::process::Output {
    binary()
        .args([
            "send",
            provider,
            "--to",
            &format!("http://127.0.0.1:{port}/webhooks"),
        ])
        .args(secret_or_key)
        .output()
        .expect("run hookscope send")
}

#[test]
fn the_senders_sample_code_accepts_what_we_send() {
    for provider in ["millicast", "optiview", "shopify", "dyte", "zoom", "meta"] {
        let (_, their_key, _) = keys(provider);
        let (_peer, port) = start_peer(node(&["serve", provider, &their_key]));
        let ours = match provider {
            "dyte" => vec!["--key".to_owned(), format!("{FIXTURES}/dyte-private.pem")],
            _ => vec!["--secret".to_owned(), keys(provider).0],
        };
        let ours: Vec<&str> = ours.iter().map(String::as_str).collect();
        let output = send_all(provider, port, &ours);
        let report = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{provider}: their code rejected some of ours:\n{report}"
        );
        assert!(
            report.lines().count() >= 3 && report.lines().all(|l| l.contains("-> 200 OK")),
            "{report}"
        );

        // And their code does reject a wrong signature: the check can fail.
        let wrong = match provider {
            "dyte" => None,
            "millicast" => Some("b3RoZXItc2VjcmV0"),
            "shopify" => Some("shpss_other"),
            "zoom" => Some("zoom_other"),
            "meta" => Some("fedcba9876543210fedcba9876543210"),
            _ => Some("dolby_sec_other"),
        };
        if let Some(wrong) = wrong {
            let output = send_all(provider, port, &["--secret", wrong]);
            assert_eq!(
                output.status.code(),
                Some(1),
                "{provider}: a wrong secret was accepted"
            );
            assert!(String::from_utf8_lossy(&output.stdout).contains("400 Bad Request"));
        }
    }
}

#[tokio::test]
async fn we_accept_what_the_senders_sample_code_signs() {
    let mut flags = vec!["--headless".to_owned()];
    for provider in ["millicast", "optiview", "shopify", "dyte", "zoom", "meta"] {
        flags.push("--secret".into());
        flags.push(format!("{provider}={}", keys(provider).0));
    }
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let listener = Listener::start(&flags);
    for provider in ["millicast", "optiview", "shopify", "dyte", "zoom", "meta"] {
        let (_, _, their_key) = keys(provider);
        let url = format!("http://{}/from-{provider}", listener.addr);
        let status = node(&["send", provider, &their_key, &url])
            .status()
            .expect("run node");
        assert!(status.success(), "{provider}: node could not deliver");
    }
    let captures = listener.captures();
    assert_eq!(captures.len(), 6);
    for capture in &captures {
        let d = &capture.derived;
        assert_eq!(
            d.verdict.as_deref(),
            Some("valid"),
            "{}: {:?}",
            capture.path,
            d.verdict_detail
        );
        let provider = capture.path.trim_start_matches("/from-");
        assert_eq!(d.provider.as_deref(), Some(provider), "detected by its headers");
    }
}

/// Zoom's endpoint check and Meta's verification request, as their docs describe them, run by
/// node against `listen`: the answer is what each sender recomputes; with another secret or
/// verify token it is not.
#[tokio::test]
async fn zoom_and_meta_accept_the_handshakes_listen_answers() {
    let (zoom, _, _) = keys("zoom");
    let secret = format!("zoom={zoom}");
    let listener = Listener::start(&[
        "--headless",
        "--secret",
        &secret,
        "--verify-token",
        "meta=my-verify-token",
    ]);
    let url = format!("http://{}/webhooks", listener.addr);
    let check = |mode: &str, provider: &str, key: &str| {
        let output = node(&[mode, provider, key, &url]).output().expect("run node");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        )
    };
    assert_eq!(
        check("zoom-validate", "zoom", &zoom),
        (Some(0), "200 validated".into())
    );
    assert_eq!(
        check("meta-verify", "meta", "my-verify-token"),
        (Some(0), "200 verified".into())
    );
    // Signed with a secret the listener does not have: refused, so Zoom sees no token at all.
    assert_eq!(
        check("zoom-validate", "zoom", "zoom_other"),
        (Some(1), "401 NOT validated".into())
    );
    assert_eq!(
        check("meta-verify", "meta", "not-my-token"),
        (Some(1), "403 NOT verified".into())
    );
    let captures = listener.captures();
    assert_eq!(captures.len(), 4);
    assert!(captures.iter().all(|c| c.derived.handshake.is_some()));
}

/// Python with the official libraries (`standardwebhooks`, `stripe`) importable, installing
/// them into cargo's test directory on first use. `None` (the test is skipped, loudly) only
/// outside CI when the registry cannot be reached: with `CI` set, a missing library fails.
fn python_with_official_libraries() -> Option<(String, PathBuf)> {
    const PACKAGES: [(&str, &str); 2] = [
        ("standardwebhooks", "standardwebhooks==1.1.0"),
        ("stripe", "stripe==11.6.0"),
    ];
    // Tests run in parallel: one pip at a time writes into the shared directory.
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _installing = INSTALLING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("crosscheck-python");
    for (module, requirement) in PACKAGES {
        if dir.join(module).exists() {
            continue;
        }
        let installed = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--root-user-action=ignore",
                "--target",
            ])
            .arg(&dir)
            .arg(requirement)
            .status();
        if !matches!(installed, Ok(status) if status.success()) {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must be able to install {requirement} from PyPI"
            );
            eprintln!("SKIPPED: cannot install {requirement} (offline?)");
            return None;
        }
    }
    Some(("python3".to_owned(), dir))
}

fn python(interpreter: &str, path: &PathBuf, args: &[&str]) -> Command {
    python_script(interpreter, path, "standard_webhooks.py", args)
}

fn python_script(interpreter: &str, path: &PathBuf, script: &str, args: &[&str]) -> Command {
    let mut command = Command::new(interpreter);
    command
        .env("PYTHONPATH", path)
        .arg(format!("{SCRIPTS}/{script}"))
        .args(args);
    command
}

#[tokio::test]
async fn the_official_standard_webhooks_library_agrees_both_ways() {
    let Some((interpreter, path)) = python_with_official_libraries() else {
        return;
    };
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    // Theirs verifies ours.
    let (_peer, port) = start_peer(python(&interpreter, &path, &["serve", secret]));
    let output = send_all("standard-webhooks", port, &["--secret", secret]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let output = send_all(
        "standard-webhooks",
        port,
        &["--secret", "whsec_b3RoZXItc2VjcmV0LXZhbHVl"],
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "their library accepted a wrong secret"
    );

    // Ours verifies theirs.
    let secret_flag = format!("standard-webhooks={secret}");
    let listener = Listener::start(&["--headless", "--secret", &secret_flag]);
    let url = format!("http://{}/standard", listener.addr);
    let status = python(&interpreter, &path, &["send", secret, &url])
        .status()
        .expect("run python");
    assert!(status.success());
    let captures = listener.captures();
    assert_eq!(
        captures[0].derived.verdict.as_deref(),
        Some("valid"),
        "{:?}",
        captures[0].derived
    );
    assert_eq!(captures[0].derived.event_type.as_deref(), Some("invoice.paid"));
}

/// Bodies whose `JSON.stringify(JSON.parse(body))` differs from their bytes in every way
/// JavaScript re-serializes: spacing, number forms, escapes, key order, duplicate keys.
const TRICKY: &[&str] = &[
    r#"{"type": "channel.stopped", "created": 1700000000, "object": {"type": "channel", "id": "ch_1"}}"#,
    r#"{"type":"engine.error","n":[2.0, 1e6, 1E+2, 1.5e-7, 1e21, -0.0, 12345678901234567890, 0.000001, 1e-7, 123e-20, 5e-324, 1.7976931348623157e308, 1e400]}"#,
    r#"{"type":"s","s":"caf\u00e9 \/ \u2028 \u2029 \ud83d\ude00 \ud800 x\udc00 \u0000\u001f\b\f\n\r\t \"q\" \\ \u007f \u00ad"}"#,
    "{\"type\":\"literal\",\"s\":\"\u{2028}\u{2029}\u{1F600} ünï \u{7f} \u{feff}\"}",
    r#"{"b":1,"10":2,"1":3,"a":4,"01":5,"4294967294":6,"4294967295":7,"-1":8,"1.5":9,"0":10}"#,
    r#"{"type":"dup","a":1,"b":2,"a":{"x":[1,2]},"b":null}"#,
    "{\n  \"type\" : \"pretty\",\n\t\"nested\" : { \"deep\" : [ [ [ { } ] ] , [ ] ] }\r\n}\n",
    r#"[{"type":"array at the top"}, 1, "two", null, true, false, -0, 0.1]"#,
    r#"{"__proto__":{"x":1},"type":"proto","constructor":"c"}"#,
];

/// A journal of `TRICKY` bodies, each signed as `provider`'s docs sign (by their sample code
/// under node) an hour ago, captured by `hookscope listen`.
fn capture_tricky(provider: &str, flags: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("captures.jsonl");
    let mut listener = Listener::start_with_journal(&journal, flags);
    let (_, _, signing_key) = keys(provider);
    for (index, body) in TRICKY.iter().enumerate() {
        let file = dir.path().join(format!("body-{index}.json"));
        std::fs::write(&file, body).expect("write body");
        let url = format!("http://{}/hooks/{provider}", listener.addr);
        let status = node(&["send-file", provider, &signing_key, &url])
            .arg(&file)
            .arg("3600")
            .status()
            .expect("run node");
        assert!(status.success(), "{provider}: body {index} was not captured");
    }
    listener.stop();
    (dir, journal)
}

#[test]
fn resigned_replays_of_tricky_bodies_are_accepted_by_the_senders_sample_receivers() {
    for provider in ["optiview", "dyte"] {
        let (our_key, their_key, _) = keys(provider);
        let secret = format!("{provider}={our_key}");
        let (dir, journal) = capture_tricky(provider, &["--headless", "--secret", &secret]);
        let captures = common::captures_in(&journal);
        assert_eq!(captures.len(), TRICKY.len());
        for capture in &captures {
            let d = &capture.derived;
            let expected = if provider == "optiview" { "stale" } else { "valid" };
            assert_eq!(d.verdict.as_deref(), Some(expected), "{:?}", d.verdict_detail);
            assert_eq!(d.signed_form.as_deref(), Some("json-stringify"), "{d:?}");
            assert_eq!(d.caveat, None, "{d:?}");
        }

        let (_peer, port) = start_peer(node(&["serve", provider, &their_key]));
        let mut replay = binary();
        replay.arg("replay").arg(&journal).args([
            "--to",
            &format!("http://127.0.0.1:{port}/webhooks"),
            "--resign",
        ]);
        match provider {
            "dyte" => replay.arg("--key").arg(format!("{FIXTURES}/dyte-private.pem")),
            _ => replay.args(["--secret", &secret]),
        };
        let output = replay.output().expect("run replay");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{provider}: the docs' receiver rejected a re-signed replay:\n{stderr}"
        );
        assert!(stderr.contains(&format!("{} × 200", TRICKY.len())), "{stderr}");
        let attempts = common::attempts_in(&journal);
        assert_eq!(attempts.len(), TRICKY.len());
        for attempt in &attempts {
            assert_eq!(attempt.kind.name(), "resigned");
            let names: Vec<&str> = attempt.signed_headers.iter().map(|h| h.name.as_str()).collect();
            let expected = if provider == "dyte" {
                "dyte-signature"
            } else {
                "Dolby-Signature"
            };
            assert_eq!(names, [expected], "the attempt keeps the signature it sent");
        }
        drop(dir);
    }
}

#[tokio::test]
async fn a_body_signed_over_its_raw_bytes_is_valid_with_a_caveat_the_docs_receiver_confirms() {
    // OptiView signs JSON.stringify(body); a sender (or proxy) that signed the spaced bytes
    // themselves gets `valid`, a caveat, and the docs' receiver does reject it.
    let secret = "dolby_sec_myverylittlesecret";
    let body = br#"{"type": "channel.stopped", "created": 1700000000}"#;
    let t = chrono::Utc::now().timestamp();
    let h = {
        use hmac::Mac as _;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    };
    let signature = format!("t={t},h={h}");
    let flag = format!("optiview={secret}");
    let listener = Listener::start(&["--headless", "--secret", &flag]);
    let request = common::post(
        "/hooks",
        &[
            ("Content-Type", "application/json"),
            ("Dolby-Signature", &signature),
        ],
        body,
    );
    let answer = common::send_raw(listener.addr, &request).await.expect("captured");
    assert_eq!(answer.status, 200);
    let captures = listener.captures();
    let d = &captures[0].derived;
    assert_eq!(d.verdict.as_deref(), Some("valid"));
    assert_eq!(d.signed_form.as_deref(), Some("raw"));
    assert!(
        d.caveat.as_deref().unwrap_or_default().contains("JSON.stringify"),
        "{d:?}"
    );
    // The docs' receiver says the same: it rejects what hookscope calls valid with a caveat.
    let (_peer, port) = start_peer(node(&["serve", "optiview", secret]));
    let address = format!("127.0.0.1:{port}").parse().expect("address");
    let answer = common::send_raw(address, &request).await.expect("answered");
    assert_eq!(answer.status, 400, "the docs' receiver rejects it");
}

#[tokio::test]
async fn the_official_stripe_library_agrees_both_ways() {
    let Some((interpreter, path)) = python_with_official_libraries() else {
        return;
    };
    let secret = "whsec_test_4eC39HqLyjWDarjtT1zdp7dc";
    let stripe = |args: &[&str]| python_script(&interpreter, &path, "stripe_official.py", args);

    // Theirs verifies ours (every Stripe sample event).
    let (_peer, port) = start_peer(stripe(&["serve", secret]));
    let output = send_all("stripe", port, &["--secret", secret]);
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the Stripe library rejected ours:\n{report}"
    );
    assert!(report.lines().count() >= 3, "{report}");
    let output = send_all("stripe", port, &["--secret", "whsec_other"]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "their library accepted a wrong secret"
    );

    // Ours verifies theirs.
    let flag = format!("stripe={secret}");
    let listener = Listener::start(&["--headless", "--secret", &flag]);
    let url = format!("http://{}/stripe", listener.addr);
    let status = stripe(&["send", secret, &url]).status().expect("run python");
    assert!(status.success());
    let captures = listener.captures();
    let d = &captures[0].derived;
    assert_eq!(
        (d.provider.as_deref(), d.verdict.as_deref()),
        (Some("stripe"), Some("valid")),
        "{d:?}"
    );
    assert_eq!(d.signed_form.as_deref(), Some("raw"));
    assert_eq!(d.event_type.as_deref(), Some("invoice.paid"));
}
