//! `hookscope replay`: saved captures delivered again, as captured or re-signed, with a summary
//! and an exit status; every attempt appended to the journal.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use common::{Listener, LocalApp, attempts_in, binary, captures_in};
use hookscope::capture::{AttemptKind, Capture, CaptureId, Derived, Header, Via};
use hookscope::provider::Catalog;
use hookscope::{codec, config, sample, verify};

const SECRETS: [(&str, &str); 3] = [
    ("optiview", "dolby_sec_test"),
    ("stripe", "whsec_stripe_test"),
    ("standard-webhooks", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
];

fn capture(path: &str, headers: Vec<Header>, body: Bytes, at: chrono::DateTime<Utc>) -> Capture {
    Capture {
        id: CaptureId::generate(),
        received_at: at,
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

/// A journal of one event per provider, each signed correctly an hour ago.
fn hour_old_signed_journal(dir: &Path) -> PathBuf {
    let catalog = Catalog::builtin();
    let hour_ago = Utc::now() - chrono::Duration::hours(1);
    let mut lines = Vec::new();
    for (provider, secret) in SECRETS {
        let profile = catalog.get(provider).expect("profile");
        let rendered = sample::render(&profile.samples[0], hour_ago, &[]).expect("renders");
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
            hour_ago.timestamp(),
        )
        .expect("signs");
        lines.extend(codec::encode_capture(&capture(
            &path,
            headers,
            rendered.body,
            hour_ago,
        )));
    }
    let file = dir.join("old.jsonl");
    std::fs::write(&file, lines).expect("write journal");
    file
}

fn replay(file: &Path, to: &str, extra: &[&str]) -> (bool, String) {
    let output = binary()
        .arg("replay")
        .arg(file)
        .args(["--to", to])
        .args(extra)
        .output()
        .expect("run replay");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn verdicts(captures: &[Capture]) -> Vec<(String, String)> {
    let mut verdicts: Vec<(String, String)> = captures
        .iter()
        .map(|c| {
            (
                c.derived.provider.clone().unwrap_or_default(),
                c.derived.verdict.clone().unwrap_or_default(),
            )
        })
        .collect();
    verdicts.sort();
    verdicts
}

#[test]
fn a_resigned_replay_of_a_stale_event_verifies_and_a_plain_one_is_stale() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = hour_old_signed_journal(dir.path());
    let secret_flags: Vec<String> = SECRETS.iter().map(|(p, s)| format!("{p}={s}")).collect();
    let mut receiver_args = vec!["--headless"];
    for flag in &secret_flags {
        receiver_args.extend(["--secret", flag.as_str()]);
    }
    // The receiver is hookscope itself, verifying with the secrets as the real app would.
    let plain_receiver = Listener::start(&receiver_args);
    let (ok, stderr) = replay(&file, &format!("http://{}", plain_receiver.addr), &[]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("replayed 3 captures"), "{stderr}");
    let expected = |verdict: &str| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = SECRETS
            .iter()
            .map(|(p, _)| (p.to_string(), verdict.to_string()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(verdicts(&plain_receiver.captures()), expected("stale"));

    let resigned_receiver = Listener::start(&receiver_args);
    let mut args = vec!["--resign"];
    for flag in &secret_flags {
        args.extend(["--secret", flag.as_str()]);
    }
    let (ok, stderr) = replay(&file, &format!("http://{}", resigned_receiver.addr), &args);
    assert!(ok, "{stderr}");
    let received = resigned_receiver.captures();
    assert_eq!(verdicts(&received), expected("valid"));
    // The bodies are the captured ones, byte for byte.
    let originals = captures_in(&file);
    for original in &originals {
        assert!(
            received
                .iter()
                .any(|r| r.body == original.body && r.path == original.path)
        );
    }

    // Both replays are in the replayed journal, against the captures they delivered.
    let attempts = attempts_in(&file);
    let kinds: Vec<AttemptKind> = attempts.iter().map(|a| a.kind).collect();
    assert_eq!(kinds.iter().filter(|k| **k == AttemptKind::Replay).count(), 3);
    assert_eq!(kinds.iter().filter(|k| **k == AttemptKind::Resigned).count(), 3);
    assert!(
        attempts
            .iter()
            .all(|a| originals.iter().any(|c| c.id == a.capture))
    );
    assert!(attempts.iter().all(|a| a.status() == Some(200)));
}

#[test]
fn resigning_without_a_secret_fails_before_sending_anything() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = hour_old_signed_journal(dir.path());
    let app = LocalApp::start();
    let (ok, stderr) = replay(&file, &app.url(), &["--resign"]);
    assert!(!ok);
    assert!(stderr.contains("no secret configured for"), "{stderr}");
    assert!(app.seen().is_empty());
}

#[test]
fn resign_refuses_per_capture_and_goes_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = hour_old_signed_journal(dir.path());
    // A capture no profile recognises: replayed as captured, as a sender that signs nothing.
    let mut lines = std::fs::read(&file).expect("journal");
    let stranger = capture("/stranger", vec![], Bytes::from_static(b"{}"), Utc::now());
    lines.extend(codec::encode_capture(&stranger));
    std::fs::write(&file, lines).expect("append");
    let app = LocalApp::start();
    let (ok, stderr) = replay(
        &file,
        &app.url(),
        &["--resign", "--secret", "optiview=dolby_sec_test"],
    );
    assert!(!ok, "refusals make the exit status non-zero: {stderr}");
    assert!(stderr.contains("not re-signed, not sent: capture"), "{stderr}");
    assert!(stderr.contains("no secret configured for stripe"), "{stderr}");
    assert!(
        stderr.contains("no secret configured for standard-webhooks"),
        "{stderr}"
    );
    assert!(stderr.contains("replayed 2 captures"), "{stderr}");
    assert!(stderr.contains("2 not re-signed, not sent"), "{stderr}");
    let mut paths: Vec<String> = app.seen().into_iter().map(|s| s.target).collect();
    paths.sort();
    assert_eq!(paths, ["/hooks/optiview", "/stranger"]);
    let (ok, stderr) = replay(
        &file,
        &app.url(),
        &[
            "--resign",
            "--secret",
            "optiview=dolby_sec_test",
            "--allow-failures",
        ],
    );
    assert!(ok, "{stderr}");
}

#[test]
fn dyte_is_re_signed_with_a_private_key_and_refused_without_one() {
    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let dir = tempfile::tempdir().expect("temp dir");
    let catalog = Catalog::builtin();
    let profile = catalog.get("dyte").expect("dyte");
    let rendered = sample::render(&profile.samples[0], Utc::now(), &[]).expect("renders");
    let dyte = capture("/hooks/dyte", rendered.headers, rendered.body, Utc::now());
    let file = dir.path().join("dyte.jsonl");
    std::fs::write(&file, codec::encode_capture(&dyte)).expect("journal");
    let public = format!("dyte=file:{FIXTURES}/dyte-public.pem");
    let app = LocalApp::start();
    let (ok, stderr) = replay(&file, &app.url(), &["--resign", "--secret", &public]);
    assert!(!ok);
    assert!(
        stderr.contains("--key dyte-private.pem") && stderr.contains("hookscope keygen dyte"),
        "the refusal says how to get a key: {stderr}"
    );
    assert!(app.seen().is_empty());

    // With the private key (a flag, or [keys] in hookscope.toml), the app verifies it.
    let receiver = Listener::start(&["--headless", "--secret", &public]);
    let private = format!("{FIXTURES}/dyte-private.pem");
    let (ok, stderr) = replay(
        &file,
        &format!("http://{}", receiver.addr),
        &["--resign", "--key", &private],
    );
    assert!(ok, "{stderr}");
    let config = dir.path().join("hookscope.toml");
    std::fs::write(&config, format!("[keys]\ndyte = \"file:{private}\"\n")).expect("config");
    let config = config.to_string_lossy().into_owned();
    let (ok, stderr) = replay(
        &file,
        &format!("http://{}", receiver.addr),
        &["--resign", "--config", &config],
    );
    assert!(ok, "{stderr}");
    let received = receiver.captures();
    assert_eq!(received.len(), 2);
    for capture in &received {
        assert_eq!(
            capture.derived.verdict.as_deref(),
            Some("valid"),
            "{:?}",
            capture.derived
        );
        assert_eq!(capture.body, dyte.body);
    }
}

/// A journal of captures to `/ok/N` and `/fail/N`, in that order.
fn plain_journal(dir: &Path, paths: &[&str]) -> PathBuf {
    let mut lines = Vec::new();
    for path in paths {
        let body = Bytes::from(format!("{{\"path\":\"{path}\"}}"));
        lines.extend(codec::encode_capture(&capture(path, vec![], body, Utc::now())));
    }
    let file = dir.join("plain.jsonl");
    std::fs::write(&file, lines).expect("write journal");
    file
}

fn ok_or_fail() -> LocalApp {
    LocalApp::start_on(
        "127.0.0.1:0".parse().expect("addr"),
        Arc::new(|seen, _| match seen.target.starts_with("/fail") {
            true => (500, Duration::ZERO),
            false => (200, Duration::ZERO),
        }),
    )
}

#[test]
fn the_summary_counts_statuses_and_failures_set_the_exit_status() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = plain_journal(dir.path(), &["/ok/1", "/fail/1", "/ok/2"]);
    let app = ok_or_fail();
    let (ok, stderr) = replay(&file, &app.url(), &[]);
    assert!(!ok, "a failed delivery fails the command");
    assert!(stderr.contains("replayed 3 captures"), "{stderr}");
    assert!(
        stderr.contains("2 × 200, 1 × 500; 1 failed; latency p50"),
        "{stderr}"
    );
    assert!(stderr.contains("1 of 3 deliveries failed"), "{stderr}");
    assert!(!stderr.contains('\r'), "no progress bar in a pipe: {stderr:?}");

    let (ok, stderr) = replay(&file, &app.url(), &["--allow-failures"]);
    assert!(ok, "{stderr}");

    // The filter sees each capture's last delivery: only the failed one is replayed.
    let (ok, stderr) = replay(
        &file,
        &format!("{}/v2", app.url()),
        &["--filter", "status:5xx", "--allow-failures"],
    );
    assert!(ok, "{stderr}");
    assert!(stderr.contains("replayed 1 capture "), "{stderr}");
    assert_eq!(
        app.seen().last().map(|s| s.target.clone()).as_deref(),
        Some("/v2/fail/1")
    );

    // Nothing to do is not an error.
    let (ok, stderr) = replay(&file, &app.url(), &["--filter", "path:/nowhere"]);
    assert!(ok && stderr.contains("nothing to replay"), "{stderr}");
}

#[test]
fn in_order_replays_one_at_a_time_in_journal_order_at_the_rate_asked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = ["/ok/1", "/ok/2", "/ok/3", "/ok/4", "/ok/5", "/ok/6"];
    let file = plain_journal(dir.path(), &paths);
    // Six requests at 10/s: the first at once, then 100 ms apart. A request reaches the app some
    // time after the replay sends it, and a busy machine can hold one back: the first arrived
    // 60 ms late once in 15 runs beside four busy loops (the six spanned 447 ms). Up to three
    // rounds, then; an ignored --rate puts all six within a few ms in every one.
    let mut spans = Vec::new();
    while spans.len() < 3 && !spans.iter().any(|span| *span >= Duration::from_millis(480)) {
        let app = ok_or_fail();
        let started = Instant::now();
        let (ok, stderr) = replay(&file, &app.url(), &["--in-order", "--rate", "10"]);
        assert!(ok, "{stderr}");
        let seen: Vec<String> = app.seen().into_iter().map(|s| s.target).collect();
        assert_eq!(seen, paths);
        assert!(
            started.elapsed() >= Duration::from_millis(480),
            "{:?}",
            started.elapsed()
        );
        let at: Vec<Instant> = app.seen().into_iter().map(|s| s.at).collect();
        spans.push(at[5].duration_since(at[0]));
    }
    assert!(
        spans.iter().any(|span| *span >= Duration::from_millis(480)),
        "six requests at 10/s arrived within {spans:?}"
    );
}

#[test]
fn in_order_waits_for_each_answer_before_the_next_request() {
    // No --rate here: only --in-order keeps the requests apart. The app takes 150 ms to answer;
    // one at a time, each request arrives after the previous answer, so 150 ms or more apart
    // (concurrently, all six would arrive at once).
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = ["/ok/1", "/ok/2", "/ok/3", "/ok/4", "/ok/5", "/ok/6"];
    let file = plain_journal(dir.path(), &paths);
    let app = LocalApp::start_on(
        "127.0.0.1:0".parse().expect("address"),
        std::sync::Arc::new(|_, _| (200, Duration::from_millis(150))),
    );
    let (ok, stderr) = replay(&file, &app.url(), &["--in-order"]);
    assert!(ok, "{stderr}");
    let seen = app.seen();
    let targets: Vec<&str> = seen.iter().map(|s| s.target.as_str()).collect();
    assert_eq!(targets, paths);
    for pair in seen.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(
            gap >= Duration::from_millis(145),
            "{} came {gap:?} after {}",
            pair[1].target,
            pair[0].target
        );
    }
}

/// The most requests the app held at once, counting each as held from its arrival until `hold`
/// later (it answers no sooner, so a request that waited for a free slot arrives after that).
fn most_at_once(arrivals: &[Instant], hold: Duration) -> usize {
    arrivals
        .iter()
        .map(|&at| {
            arrivals
                .iter()
                .filter(|&&other| other <= at && at < other + hold)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn concurrency_n_runs_at_most_n_deliveries_at_once_and_more_than_one() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let hold_ms = Arc::new(AtomicU64::new(0));
    let hold = hold_ms.clone();
    let app = LocalApp::start_on(
        "127.0.0.1:0".parse().expect("addr"),
        Arc::new(move |_, _| (200, Duration::from_millis(hold.load(Ordering::SeqCst)))),
    );
    // Baseline: one delivery's latency on this machine now. Deliveries started together reach the
    // app within a few of these; the hold is far longer.
    let base_dir = tempfile::tempdir().expect("temp dir");
    let base = plain_journal(base_dir.path(), &["/ok/0"]);
    let (ok, stderr) = replay(&base, &app.url(), &[]);
    assert!(ok, "{stderr}");
    let held = (attempts_in(&base)[0].latency * 20).max(Duration::from_millis(300));
    hold_ms.store(held.as_millis() as u64, Ordering::SeqCst);

    let dir = tempfile::tempdir().expect("temp dir");
    let paths: Vec<String> = (1..=8).map(|n| format!("/ok/{n}")).collect();
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let file = plain_journal(dir.path(), &paths);
    let (ok, stderr) = replay(&file, &app.url(), &["--concurrency", "3"]);
    assert!(ok, "{stderr}");
    let arrivals: Vec<Instant> = app.seen().iter().skip(1).map(|s| s.at).collect();
    assert_eq!(arrivals.len(), 8);
    assert_eq!(most_at_once(&arrivals, held), 3, "held {held:?} each");
}

#[test]
fn retry_retries_a_503() {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = calls.clone();
    let app = LocalApp::start_on(
        "127.0.0.1:0".parse().expect("addr"),
        Arc::new(
            move |_, _| match count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0 => (503, Duration::ZERO),
                _ => (200, Duration::ZERO),
            },
        ),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let file = plain_journal(dir.path(), &["/flaky"]);
    let (ok, stderr) = replay(&file, &app.url(), &["--retry", "fixed:2x100ms"]);
    assert!(ok, "the retry got a 200: {stderr}");
    assert!(stderr.contains("1 × 200; 0 failed"), "{stderr}");
    let attempts = attempts_in(&file);
    let tried: Vec<(u32, Option<u16>)> = attempts.iter().map(|a| (a.number, a.status())).collect();
    assert_eq!(tried, [(1, Some(503)), (2, Some(200))]);
    assert_eq!(app.seen().len(), 2);
}

#[test]
fn timeout_fails_a_slow_attempt() {
    // The app answers ten seconds late; the attempt gives up at 300 ms.
    let app = LocalApp::start_on(
        "127.0.0.1:0".parse().expect("addr"),
        Arc::new(|_, _| (200, Duration::from_secs(10))),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let file = plain_journal(dir.path(), &["/slow"]);
    let (ok, stderr) = replay(&file, &app.url(), &["--timeout", "300ms"]);
    assert!(!ok, "a timed-out delivery failed: {stderr}");
    assert!(stderr.contains("1 × timed out after 300ms"), "{stderr}");
    let attempts = attempts_in(&file);
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        attempts[0].outcome,
        hookscope::capture::Outcome::Failed("timed out after 300ms".into())
    );
}

#[test]
fn exact_sends_to_the_url_as_given_and_preserve_host_the_captured_host() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut hook = capture(
        "/hooks",
        vec![Header::new("Host", "captured.example")],
        Bytes::from_static(b"{}"),
        Utc::now(),
    );
    hook.query = Some("x=1".into());
    let file = dir.path().join("host.jsonl");
    std::fs::write(&file, codec::encode_capture(&hook)).expect("journal");
    let app = LocalApp::start();
    let target = format!("{}/only/here", app.url());

    let (ok, stderr) = replay(&file, &target, &[]);
    assert!(ok, "{stderr}");
    let (ok, stderr) = replay(&file, &target, &["--exact", "--preserve-host"]);
    assert!(ok, "{stderr}");
    let seen = app.seen();
    let sent: Vec<(&str, Option<String>)> = seen
        .iter()
        .map(|s| (s.target.as_str(), s.header("host")))
        .collect();
    assert_eq!(
        sent,
        [
            ("/only/here/hooks?x=1", Some(app.addr.to_string())),
            ("/only/here", Some("captured.example".to_owned())),
        ]
    );
    let targets: Vec<String> = attempts_in(&file).into_iter().map(|a| a.target).collect();
    assert_eq!(targets, [format!("{target}/hooks?x=1"), target]);
}

#[test]
fn a_resigned_standard_webhooks_replay_has_a_fresh_id_and_verifies() {
    use base64::Engine as _;
    use hmac::Mac as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = hour_old_signed_journal(dir.path());
    let original = captures_in(&file)
        .into_iter()
        .find(|c| c.path == "/hooks/standard-webhooks")
        .expect("the Standard Webhooks capture");
    let captured_id = original.header("webhook-id").expect("a webhook-id").to_vec();
    let app = LocalApp::start();
    let (ok, stderr) = replay(
        &file,
        &app.url(),
        &[
            "--resign",
            "--filter",
            "path:/hooks/standard-webhooks",
            "--secret",
            &format!("standard-webhooks={}", SECRETS[2].1),
        ],
    );
    assert!(ok, "{stderr}");
    let seen = app.seen();
    assert_eq!(seen.len(), 1);
    let header = |name: &str| seen[0].header(name).unwrap_or_else(|| panic!("no {name}"));
    let (id, timestamp, signature) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    assert_ne!(id.as_bytes(), captured_id, "the captured id was sent again");
    // Verified as the specification says, not by hookscope: HMAC-SHA256 of `id.timestamp.body`
    // keyed with the base64 after `whsec_`.
    let key = base64::engine::general_purpose::STANDARD
        .decode(SECRETS[2].1.trim_start_matches("whsec_"))
        .expect("base64 secret");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("key");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&seen[0].body);
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert!(
        signature.split(' ').any(|s| s == format!("v1,{expected}")),
        "{signature} is not v1,{expected}"
    );
    let now = Utc::now().timestamp();
    let signed_at: i64 = timestamp.parse().expect("seconds");
    assert!((now - signed_at).abs() < 300, "a fresh timestamp: {signed_at}");
}
