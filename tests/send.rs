//! `send` into `listen`, end to end: every event of every provider arrives signed and valid.

mod common;

use std::path::Path;
use std::process::Output;

use std::time::Duration;

use common::{Listener, binary, wait_for};
use hookscope::provider::Catalog;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// A secret per provider, shaped as each sender's are.
fn secret(provider: &str) -> Option<String> {
    Some(match provider {
        "millicast" => "c2VjcmV0LWZvci1taWxsaWNhc3Q=".into(),
        "optiview" => "dolby_sec_test_3f9a".into(),
        "github" => "gh-webhook-secret".into(),
        "stripe" => "whsec_test_51Hx".into(),
        "standard-webhooks" => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        "slack" => "8f742231b10e8888abcd99yyyzzz85a5".into(),
        "shopify" => "shpss_test_secret".into(),
        "zoom" => "zoom-secret-token".into(),
        "meta" => "meta-app-secret".into(),
        "dyte" => format!("file:{FIXTURES}/dyte-public.pem"),
        _ => return None,
    })
}

fn listen_flags(config: &Path) -> Vec<String> {
    let mut flags = vec![
        "--headless".to_owned(),
        "--config".to_owned(),
        config.display().to_string(),
    ];
    for profile in Catalog::builtin().profiles() {
        if let Some(secret) = secret(&profile.name) {
            flags.push("--secret".into());
            flags.push(format!("{}={secret}", profile.name));
        }
    }
    flags
}

fn send(addr: std::net::SocketAddr, provider: &str, extra: &[&str]) -> Output {
    let mut command = binary();
    command
        .args([
            "send",
            provider,
            "--to",
            &format!("http://{addr}/hooks/{provider}"),
        ])
        .args(extra);
    match provider {
        "dyte" => command.args(["--key", &format!("{FIXTURES}/dyte-private.pem")]),
        other => match secret(other) {
            Some(secret) if !extra.contains(&"--secret") => command.args(["--secret", &secret]),
            _ => &mut command,
        },
    };
    command.output().expect("run hookscope send")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn every_event_of_every_provider_arrives_valid() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("hookscope.toml");
    // AIOZ has no identifying header: route it by path.
    std::fs::write(
        &config,
        "[[routes]]\npath = \"/hooks/aioz*\"\nprovider = \"aioz\"\n",
    )
    .expect("config");
    let flags = listen_flags(&config);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut listener = Listener::start(&flags);

    let catalog = Catalog::builtin();
    let mut expected = Vec::new();
    for profile in catalog.profiles() {
        let output = send(listener.addr, &profile.name, &[]);
        assert!(
            output.status.success(),
            "send {}: {}{}",
            profile.name,
            stdout(&output),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            stdout(&output).lines().count(),
            profile.samples.len(),
            "{}",
            stdout(&output)
        );
        for sample in &profile.samples {
            expected.push((profile.name.clone(), sample.event_type.clone()));
        }
    }

    let captures = listener.captures();
    assert_eq!(captures.len(), expected.len());
    for (capture, (provider, event_type)) in captures.iter().zip(&expected) {
        let d = &capture.derived;
        assert_eq!(
            d.provider.as_deref(),
            Some(provider.as_str()),
            "{:?}",
            capture.path
        );
        assert_eq!(d.event_type.as_deref(), Some(event_type.as_str()), "{provider}");
        let verdict = match provider.as_str() {
            "aioz" => "none-documented",
            _ => "valid",
        };
        assert_eq!(
            d.verdict.as_deref(),
            Some(verdict),
            "{provider} {event_type}: {:?}",
            d.verdict_detail
        );
        // Signed in the form the sender's documented receiver recomputes: no caveat.
        let profile = catalog.get(provider).expect("profile");
        if verdict == "valid" {
            assert_eq!(
                d.signed_form.as_deref(),
                Some(profile.scheme.documented_form().label()),
                "{provider} {event_type}"
            );
        }
        assert_eq!(d.caveat, None, "{provider} {event_type}");
        // The two handshakes among the samples are answered by the listener (send got a 2xx).
        let handshake = ["url_verification", "endpoint.url_validation"].contains(&event_type.as_str());
        assert_eq!(
            d.handshake.is_some(),
            handshake,
            "{provider} {event_type}: {:?}",
            d.handshake
        );
    }

    let (status, printed, _) = listener.stop();
    assert!(status.success());
    let line = printed
        .lines()
        .find(|l| l.contains("/hooks/optiview"))
        .expect("an optiview line");
    assert!(
        line.contains("optiview channel.") && line.ends_with("✓ valid (json-stringify)"),
        "{line}"
    );
}

#[tokio::test]
async fn a_wrong_secret_is_invalid_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("none.toml");
    std::fs::write(&config, "").expect("config");
    let flags = listen_flags(&config);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let listener = Listener::start(&flags);

    let output = send(
        listener.addr,
        "optiview",
        &["channel.stopped", "--secret", "dolby_sec_not_the_one"],
    );
    assert!(output.status.success(), "the listener still answers 200");
    // GitHub too: the verdict and its reason do not depend on the scheme.
    let output = send(listener.addr, "github", &["push", "--secret", "another-secret"]);
    assert!(output.status.success());

    let captures = listener.captures();
    assert_eq!(captures.len(), 2);
    for capture in &captures {
        assert_eq!(capture.derived.verdict.as_deref(), Some("invalid"));
        let detail = capture.derived.verdict_detail.as_deref().unwrap_or_default();
        assert!(detail.contains("wrong secret"), "{detail}");
        assert!(
            !detail.contains("dolby_sec_test_3f9a"),
            "the secret leaked: {detail}"
        );
    }
    let journal = std::fs::read_to_string(&listener.journal).expect("journal");
    assert!(
        !journal.contains("dolby_sec_test_3f9a") && !journal.contains("gh-webhook-secret"),
        "secret in journal"
    );

    // `verify` re-checks the journal offline: not all valid, so exit status 1, with the reason.
    let output = binary()
        .args([
            "verify",
            listener.journal.to_str().expect("utf-8"),
            "--secret",
            "optiview=dolby_sec_test_3f9a",
        ])
        .args(["--secret", "github=gh-webhook-secret"])
        .output()
        .expect("run verify");
    assert_eq!(output.status.code(), Some(1));
    let report = stdout(&output);
    assert_eq!(report.matches("✗ invalid").count(), 2, "{report}");
    assert!(
        report.contains("expected") && report.contains("received"),
        "{report}"
    );
    // With the secret that was really used, the optiview capture is valid.
    let output = binary()
        .args([
            "verify",
            listener.journal.to_str().expect("utf-8"),
            "--provider",
            "optiview",
        ])
        .args(["--secret", "optiview=dolby_sec_not_the_one"])
        .output()
        .expect("run verify");
    assert!(
        stdout(&output)
            .lines()
            .next()
            .unwrap_or_default()
            .ends_with("✓ valid (json-stringify)"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn providers_lists_every_sender_and_their_events() {
    let output = binary().arg("providers").output().expect("run providers");
    assert!(output.status.success());
    let table = stdout(&output);
    for profile in Catalog::builtin().profiles() {
        assert!(table.contains(&profile.name), "{} missing: {table}", profile.name);
    }
    // Columns line up whatever the names' lengths, a user's long one included.
    let dir = tempfile::tempdir().expect("temp dir");
    let own = dir.path().join("hookscope/providers");
    std::fs::create_dir_all(&own).expect("dir");
    std::fs::write(
        own.join("acme.toml"),
        "name = \"acme-media-platform-webhooks\"\ndisplay = \"Acme Media Platform, the long-named sender\"\n\
         [signature]\nscheme = \"none\"\n[event]\ntype = \"{/type}\"\n",
    )
    .expect("profile");
    let output = binary()
        .env("XDG_CONFIG_HOME", dir.path())
        .arg("providers")
        .output()
        .expect("run providers");
    let table = stdout(&output);
    let rows: Vec<&str> = table.lines().take_while(|l| !l.is_empty()).collect();
    assert!(
        rows.iter().any(|r| r.starts_with("acme-media-platform-webhooks")),
        "{table}"
    );
    let scheme_at = rows[0].find("SCHEME").expect("a SCHEME column"); // the header is ASCII
    for row in &rows[1..] {
        let chars: Vec<char> = row.chars().collect();
        assert!(
            chars.get(scheme_at - 1) == Some(&' ') && chars.get(scheme_at).is_some_and(|c| *c != ' '),
            "SCHEME column misaligned in {row:?}:\n{table}"
        );
    }
    let output = binary()
        .args(["providers", "optiview"])
        .output()
        .expect("run providers");
    let details = stdout(&output);
    for needle in [
        "Dolby-Signature",
        "tolerance:   300 s",
        "engine.log.error",
        "distribution.security.keys.deleted",
    ] {
        assert!(details.contains(needle), "{needle} missing: {details}");
    }
    // Zoom and Meta (#15): a generic HMAC scheme each, with their sources and sample events.
    for (provider, needles) in [
        (
            "zoom",
            &[
                "x-zm-signature",
                "v0:{timestamp}:{body}",
                "tolerance:   300 s",
                "json-stringify",
                "github.com/zoom/webhook-sample",
                "endpoint.url_validation",
                "meeting.started",
                "handshake:   endpoint.url_validation answered by listen",
            ][..],
        ),
        (
            "meta",
            &[
                "X-Hub-Signature-256",
                "sha256=",
                "developers.facebook.com/docs/graph-api/webhooks/getting-started",
                "whatsapp_business_account.messages",
                "page.feed",
                "to the verify token given by --verify-token meta=",
            ][..],
        ),
    ] {
        let output = binary()
            .args(["providers", provider])
            .output()
            .expect("run providers");
        let details = stdout(&output);
        for needle in needles {
            assert!(
                details.contains(needle),
                "{provider}: {needle} missing: {details}"
            );
        }
    }
    let output = binary()
        .args(["providers", "nosuch"])
        .output()
        .expect("run providers");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown provider"));
}

#[test]
fn send_refuses_what_it_cannot_do_clearly() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["send", "nosuch", "--to", "http://127.0.0.1:9/"],
            "unknown provider",
        ),
        (
            &[
                "send",
                "optiview",
                "nope.nope",
                "--to",
                "http://127.0.0.1:9/",
                "--secret",
                "s",
            ],
            "has no sample event",
        ),
        (
            &["send", "optiview", "--to", "ftp://127.0.0.1:9/", "--secret", "s"],
            "ftp:// is not supported; send over http:// or https://",
        ),
        (&["send", "dyte", "--to", "http://127.0.0.1:9/"], "keygen dyte"),
        (
            &["send", "optiview", "--to", "http://127.0.0.1:9/", "--secret", ""],
            "--secret is empty",
        ),
        (
            &[
                "send",
                "optiview",
                "--to",
                "http://127.0.0.1:9/",
                "--secret",
                "env:HOOKSCOPE_TEST_SURELY_UNSET",
            ],
            "HOOKSCOPE_TEST_SURELY_UNSET is not set",
        ),
        (
            &[
                "send",
                "optiview",
                "--to",
                "http://127.0.0.1:9/",
                "--set",
                "/nope=1",
            ],
            "no such field in this event (see `hookscope providers NAME`); nothing was sent",
        ),
        (
            &["keygen", "dyte", "--out", "/nonexistent-dir/x.pem"],
            "the directory /nonexistent-dir does not exist",
        ),
        (
            &[
                "send",
                "optiview",
                "--to",
                "http://127.0.0.1:9/",
                "--set",
                "data=1",
                "--secret",
                "s",
            ],
            "not a JSON pointer",
        ),
    ];
    for (args, expected) in cases {
        let output = binary()
            .args(*args)
            .env_remove("HOOKSCOPE_SECRET_OPTIVIEW")
            .output()
            .expect("run send");
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    // Nothing listens on the discard port: a clear failure per request, and exit status 1.
    let output = binary()
        .args([
            "send",
            "optiview",
            "channel.created",
            "--to",
            "http://127.0.0.1:9/",
            "--secret",
            "s",
        ])
        .output()
        .expect("run send");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("failed: cannot reach"),
        "{}",
        stdout(&output)
    );
}

#[tokio::test]
async fn send_takes_secrets_as_listen_does_and_says_which_test_secret_it_used() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The README's example, with no secret anywhere: the test secret, named on stderr.
    let listener = Listener::start(&["--headless", "--secret", "optiview=dolby_sec_hookscope_test"]);
    let output = binary()
        .current_dir(dir.path())
        .env_remove("HOOKSCOPE_SECRET_OPTIVIEW")
        .args(["send", "optiview", "engine.error", "--to"])
        .arg(format!("http://{}/", listener.addr))
        .args(["--set", "/data/status=OFFLINE"])
        .output()
        .expect("run send");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("signing with its test secret dolby_sec_hookscope_test")
            && stderr.contains("--secret optiview=dolby_sec_hookscope_test"),
        "{stderr}"
    );
    // hookscope.toml's [secrets], as listen reads it.
    std::fs::write(
        dir.path().join("hookscope.toml"),
        "[secrets]\nmillicast = \"c2VjcmV0LWZyb20tdG9tbA==\"\n",
    )
    .expect("config");
    let millicast = Listener::start(&["--headless", "--secret", "millicast=c2VjcmV0LWZyb20tdG9tbA=="]);
    let output = binary()
        .current_dir(dir.path())
        .env_remove("HOOKSCOPE_SECRET_MILLICAST")
        .args(["send", "millicast", "feeds.started", "--to"])
        .arg(format!("http://{}/", millicast.addr))
        .output()
        .expect("run send");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("test secret"), "{stderr}");
    let captures = wait_for("two captures", Duration::from_secs(10), || {
        let mut all = listener.captures();
        all.extend(millicast.captures());
        (all.len() == 2).then_some(all)
    });
    for capture in &captures {
        assert_eq!(
            capture.derived.verdict.as_deref(),
            Some("valid"),
            "{:?}",
            capture.derived
        );
    }
    assert!(String::from_utf8_lossy(&captures[0].body).contains("OFFLINE"));

    // --all with no secret at all: every HMAC sender signed with its test secret, Dyte skipped
    // with the reason, the handshakes left out (listen answers them itself, Zoom's only with its
    // secret) with how to send one alone; every request sent is answered 2xx and the run exits 0.
    let all = Listener::start(&["--headless"]);
    let output = binary()
        .current_dir(dir.path())
        .args(["send", "--all", "--to"])
        .arg(format!("http://{}/", all.addr))
        .output()
        .expect("run send --all");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let sent = stdout(&output);
    let failed: Vec<&str> = sent.lines().filter(|l| !l.contains(" -> 2")).collect();
    assert!(failed.is_empty(), "{sent}\n{stderr}");
    for handshake in ["slack url_verification", "zoom endpoint.url_validation"] {
        assert!(!sent.contains(handshake), "{sent}");
        assert!(
            stderr.contains(&format!("hookscope send {handshake}")),
            "{stderr}"
        );
    }
    assert!(sent.contains("zoom meeting.started -> 2"), "{sent}");
    // Sent alone, as the hint says, a handshake checks the listener: Slack's is answered
    // whatever the secret, Zoom's when the listener has the secret it was signed with.
    let zoom = Listener::start(&["--headless", "--secret", "zoom=zoom-secret-token"]);
    for (provider, event) in [("slack", "url_verification"), ("zoom", "endpoint.url_validation")] {
        let output = binary()
            .current_dir(dir.path())
            .args(["send", provider, event, "--to"])
            .arg(format!("http://{}/", zoom.addr))
            .args(["--secret", &format!("{provider}=zoom-secret-token")])
            .output()
            .expect("run send");
        let said = stdout(&output);
        assert!(
            output.status.success(),
            "{said}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(said.contains(&format!("{provider} {event} -> 200")), "{said}");
    }
    assert!(
        stderr.contains("dyte: skipped: no key to sign dyte events with"),
        "{stderr}"
    );
}

#[tokio::test]
async fn keygen_makes_a_pair_that_send_and_listen_agree_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let private = dir.path().join("dyte.pem");
    let output = binary()
        .args(["keygen", "dyte", "--out", private.to_str().expect("utf-8")])
        .output()
        .expect("run keygen");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout(&output).starts_with("-----BEGIN PUBLIC KEY-----"));
    let public = dir.path().join("dyte.pub.pem");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&private)
            .expect("private key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Never overwritten.
    let again = binary()
        .args(["keygen", "dyte", "--out", private.to_str().expect("utf-8")])
        .output()
        .expect("run");
    assert_eq!(again.status.code(), Some(1));

    let secret = format!("dyte=file:{}", public.display());
    let mut listener = Listener::start(&["--headless", "--secret", &secret]);
    let output = binary()
        .args([
            "send",
            "dyte",
            "meeting.started",
            "--to",
            &format!("http://{}/dyte", listener.addr),
        ])
        .args(["--key", private.to_str().expect("utf-8")])
        .output()
        .expect("run send");
    assert!(output.status.success(), "{}", stdout(&output));
    let captures = listener.captures();
    assert_eq!(
        captures[0].derived.verdict.as_deref(),
        Some("valid"),
        "{:?}",
        captures[0].derived
    );
    listener.stop();
}

#[tokio::test]
async fn filters_select_what_listen_and_log_print() {
    let secret = "optiview=dolby_sec_test_3f9a";
    let mut listener = Listener::start(&["--headless", "--secret", secret, "--filter", "sig:invalid"]);
    send(listener.addr, "optiview", &["engine.error"]);
    send(
        listener.addr,
        "optiview",
        &["channel.stopped", "--secret", "dolby_sec_wrong"],
    );
    send(
        listener.addr,
        "optiview",
        &["engine.error", "--set", "/data/status=OFFLINE"],
    );
    let journal = listener.journal.clone();
    let (status, printed, _) = listener.stop();
    assert!(status.success());
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 1, "only the invalid one is printed: {printed}");
    assert!(
        lines[0].contains("channel.stopped") && lines[0].ends_with("✗ invalid"),
        "{printed}"
    );
    assert_eq!(
        hookscope::journal::load(&journal).expect("journal").entries.len(),
        3,
        "all journaled"
    );

    let log = |filter: &str| {
        let output = binary()
            .args(["log", journal.to_str().expect("utf-8"), "--filter", filter])
            .output()
            .expect("run log");
        (
            output.status.code(),
            stdout(&output),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, out, _) = log("type:engine.* sig:valid");
    assert_eq!((code, out.lines().count()), (Some(0), 2), "{out}");
    let (_, out, _) = log("json:/data/status=OFFLINE");
    assert_eq!(out.lines().count(), 1, "{out}");
    let (_, out, _) = log("!type:engine.*");
    assert!(
        out.lines().count() == 1 && out.contains("channel.stopped"),
        "{out}"
    );
    let (code, _, err) = log("sig:bogus");
    assert_eq!(code, Some(2));
    assert!(
        err.contains("no verdict is `bogus`") && err.contains("    sig:bogus\n        ^"),
        "{err}"
    );

    // The same journal twice over: the second copy of each event is a dup.
    let doubled = journal.with_extension("doubled.jsonl");
    let text = std::fs::read_to_string(&journal).expect("journal");
    std::fs::write(&doubled, format!("{text}{text}")).expect("write");
    let output = binary()
        .args(["log", doubled.to_str().expect("utf-8"), "--filter", "dup"])
        .output()
        .expect("run log");
    assert_eq!(stdout(&output).lines().count(), 3, "{}", stdout(&output));
}
