//! Routes (#15): one listener, several local apps. The real binary over loopback, with apps
//! that record what they get: routing by path, provider and type in first-match order, fan-out
//! with each target's own attempts, `--forward` for the rest, what each route's sender hears
//! (status, headers, body, delay), failing the first deliveries of an event while the sender
//! retries (marked `dup`), the app's own answer and the fallback when it is slow, `--route`,
//! and configuration errors that name the route and the key.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Listener, LocalApp, Seen, attempts_in, binary, post, send_raw, wait_for};
use hookscope::capture::Attempt;

const PATIENCE: Duration = Duration::from_secs(20);

/// Writes `text` as a configuration file in a directory that lives as long as the result.
fn config(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hookscope.toml");
    std::fs::write(&path, text).expect("write config");
    (dir, path)
}

/// Waits until the journal holds `n` attempts.
fn attempts(listener: &Listener, n: usize) -> Vec<Attempt> {
    wait_for(&format!("{n} attempts"), PATIENCE, || {
        let attempts = attempts_in(&listener.journal);
        (attempts.len() >= n).then_some(attempts)
    })
}

/// An app answering `status` after `delay` to everything.
fn app(status: u16, delay: Duration) -> LocalApp {
    LocalApp::start_on(
        "127.0.0.1:0".parse().expect("address"),
        Arc::new(move |_, _| (status, delay)),
    )
}

/// A JSON POST of `body` to `path`, unsigned: an unknown sender whose event type is the body's
/// `type`.
async fn send(listener: &Listener, path: &str, body: &str) -> common::RawResponse {
    let request = post(path, &[("Content-Type", "application/json")], body.as_bytes());
    send_raw(listener.addr, &request).await.expect("send")
}

fn header<'a>(response: &'a common::RawResponse, name: &str) -> Option<&'a str> {
    response
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Signs and sends a Millicast event to `app` with `hookscope send`, and returns the request
/// as the app got it: the sender's exact bytes, to send again as a retrying sender does.
fn a_signed_millicast_event() -> Seen {
    let grab = LocalApp::start();
    let sent = binary()
        .args(["send", "millicast", "feeds.started", "--to"])
        .arg(format!("{}/millicast", grab.url()))
        .args(["--secret", "c2VjcmV0"])
        .output()
        .expect("run send");
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    grab.seen().pop().expect("the signed event")
}

/// `seen` as the bytes of a request, to be sent again.
fn again(seen: &Seen) -> Vec<u8> {
    let headers: Vec<(String, String)> = seen
        .headers
        .iter()
        .filter(|(n, _)| !["host", "content-length"].contains(&n.as_str()))
        .map(|(n, v)| (n.clone(), String::from_utf8_lossy(v).into_owned()))
        .collect();
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    post(&seen.target, &headers, &seen.body)
}

/// `hookscope log JOURNAL ARGS...`: its stdout.
fn log(journal: &Path, args: &[&str]) -> String {
    let out = binary()
        .arg("log")
        .arg(journal)
        .args(args)
        .output()
        .expect("run log");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

#[tokio::test]
async fn captures_go_by_path_provider_and_type_in_first_match_order_and_the_rest_to_forward() {
    let (optiview, millicast, engine, default) = (
        LocalApp::start(),
        LocalApp::start(),
        LocalApp::start(),
        LocalApp::start(),
    );
    let (_dir, file) = config(&format!(
        r#"
[secrets]
millicast = "c2VjcmV0"

[[routes]]
match = "path:/optiview/*"
forward = "{}"

[[routes]]
name = "millicast"
match = "provider:millicast"
forward = "{}"

[[routes]]
match = "type:engine.*"
forward = "{}"
"#,
        optiview.url(),
        millicast.url(),
        engine.url()
    ));
    let mut listener = Listener::start(&[
        "--headless",
        "--config",
        file.to_str().expect("utf-8 path"),
        "--forward",
        &default.url(),
    ]);
    // An engine event on the OptiView path: the first route holds, and so does the third.
    send(&listener, "/optiview/hooks", r#"{"type":"engine.error"}"#).await;
    let signed = a_signed_millicast_event();
    assert_eq!(
        send_raw(listener.addr, &again(&signed))
            .await
            .expect("send")
            .status,
        200
    );
    send(&listener, "/elsewhere", r#"{"type":"engine.stopped"}"#).await;
    send(&listener, "/unrouted", r#"{"type":"channel.started"}"#).await;

    let attempts = attempts(&listener, 4);
    let paths = |app: &LocalApp| app.seen().iter().map(|s| s.target.clone()).collect::<Vec<_>>();
    assert_eq!(paths(&optiview), ["/optiview/hooks"], "first match wins");
    assert_eq!(paths(&millicast), ["/millicast"]);
    assert_eq!(paths(&engine), ["/elsewhere"]);
    assert_eq!(
        paths(&default),
        ["/unrouted"],
        "what no route forwards goes to --forward"
    );
    let route_of = |target_path: &str| {
        attempts
            .iter()
            .find(|a| a.target.ends_with(target_path))
            .map(|a| a.route.clone())
            .expect("an attempt")
    };
    assert_eq!(route_of("/optiview/hooks").as_deref(), Some("path:/optiview/*"));
    assert_eq!(route_of("/millicast").as_deref(), Some("millicast"));
    assert_eq!(route_of("/elsewhere").as_deref(), Some("type:engine.*"));
    assert_eq!(route_of("/unrouted"), None);

    let (status, _, stderr) = listener.stop();
    assert!(status.success(), "{stderr}");
    for line in [
        format!("route 1: path:/optiview/* → {}", optiview.url()),
        format!("route 2: millicast (provider:millicast) → {}", millicast.url()),
        format!("route 3: type:engine.* → {}", engine.url()),
    ] {
        assert!(stderr.lines().any(|l| l == line), "{line:?} not in\n{stderr}");
    }
    // The route is in `log` and `log --json`.
    let human = log(&listener.journal, &[]);
    assert!(
        human.contains("/optiview/hooks [route path:/optiview/*]"),
        "{human}"
    );
    let json = log(&listener.journal, &["--json", "--attempts"]);
    assert!(json.contains(r#""route":"millicast""#), "{json}");
}

#[tokio::test]
async fn fan_out_gives_each_target_its_own_attempts_under_the_routes_retry() {
    let (failing, healthy) = (app(500, Duration::ZERO), LocalApp::start());
    let (_dir, file) = config(&format!(
        "[[routes]]\nname = \"both\"\nmatch = \"path:/fan/*\"\nforward = [\"{}\", \"{}\"]\nretry = \"fixed:2x50ms\"\n",
        failing.url(),
        healthy.url()
    ));
    let listener = Listener::start(&["--headless", "--config", file.to_str().expect("utf-8")]);
    assert_eq!(send(&listener, "/fan/out", r#"{"type":"x"}"#).await.status, 200);
    let attempts = attempts(&listener, 4);
    let numbers = |url: &str| {
        let mut n: Vec<u32> = attempts
            .iter()
            .filter(|a| a.target.starts_with(url))
            .map(|a| a.number)
            .collect();
        n.sort();
        n
    };
    assert_eq!(numbers(&failing.url()), [1, 2, 3], "500, retried twice");
    assert_eq!(numbers(&healthy.url()), [1], "answered 200 at once");
    assert!(attempts.iter().all(|a| a.route.as_deref() == Some("both")));
    assert_eq!(failing.seen().len(), 3);
    assert_eq!(healthy.seen().len(), 1);
}

#[tokio::test]
async fn each_route_answers_its_sender_with_its_status_headers_body_and_delay() {
    let (_dir, file) = config(
        r#"
[[routes]]
match = "path:/fail/*"
respond = { status = 503, body = "busy", headers = { "Retry-After" = "7" }, delay = "400ms" }

[[routes]]
match = "path:/quiet/*"
respond = { status = 204 }
forward = []
"#,
    );
    let listener = Listener::start(&[
        "--headless",
        "--config",
        file.to_str().expect("utf-8"),
        "--respond-status",
        "202",
    ]);
    let started = Instant::now();
    let busy = send(&listener, "/fail/now", r#"{"type":"a"}"#).await;
    let waited = started.elapsed();
    assert_eq!(busy.status, 503);
    assert_eq!(busy.body, b"busy");
    assert_eq!(header(&busy, "retry-after"), Some("7"));
    assert_eq!(header(&busy, "content-type"), Some("text/plain; charset=utf-8"));
    assert!(waited >= Duration::from_millis(400), "answered after {waited:?}");
    // Journaled before the answer, as always.
    assert!(listener.captures().iter().any(|c| c.path == "/fail/now"));

    let quiet = send(&listener, "/quiet/x", "{}").await;
    assert_eq!((quiet.status, quiet.body.len()), (204, 0));
    // No route: the listener's own answer.
    assert_eq!(send(&listener, "/other", "{}").await.status, 202);
    // The journal says what each sender heard.
    let journaled: Vec<(String, u16)> = listener
        .captures()
        .into_iter()
        .map(|c| (c.path, c.status))
        .collect();
    assert_eq!(
        journaled,
        [
            ("/fail/now".into(), 503),
            ("/quiet/x".into(), 204),
            ("/other".into(), 202)
        ]
    );
}

#[tokio::test]
async fn the_first_deliveries_of_an_event_fail_and_the_senders_retries_are_dups() {
    let local = LocalApp::start();
    let (_dir, file) = config(&format!(
        r#"
[secrets]
millicast = "c2VjcmV0"

[[routes]]
match = "provider:millicast"
forward = "{}"
fail_first = 2
fail_status = 500
"#,
        local.url()
    ));
    let mut listener = Listener::start(&["--headless", "--config", file.to_str().expect("utf-8")]);
    let event = a_signed_millicast_event();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        // The sender retries the same signed event, byte for byte.
        statuses.push(
            send_raw(listener.addr, &again(&event))
                .await
                .expect("send")
                .status,
        );
    }
    assert_eq!(statuses, [500, 500, 200]);
    // The journal says what the sender heard each time, failures on purpose included.
    let journaled: Vec<u16> = listener.captures().iter().map(|c| c.status).collect();
    assert_eq!(journaled, [500, 500, 200]);
    // Another event is counted afresh.
    let other = a_signed_millicast_event();
    assert_eq!(
        send_raw(listener.addr, &again(&other))
            .await
            .expect("send")
            .status,
        500
    );
    let (status, _, stderr) = listener.stop();
    assert!(status.success(), "{stderr}");
    let dups = log(&listener.journal, &["--filter", "dup sig:valid"]);
    assert_eq!(
        dups.lines().filter(|l| l.contains("POST")).count(),
        2,
        "the two retries are dup:\n{dups}"
    );
    let all = log(&listener.journal, &["--filter", "sig:valid"]);
    assert_eq!(all.lines().filter(|l| l.contains("POST")).count(), 4, "{all}");
}

#[tokio::test]
async fn a_timely_app_answers_the_sender_and_a_slow_one_gets_the_fallback() {
    let timely = app(201, Duration::ZERO);
    let second = app(500, Duration::ZERO);
    let slow = app(200, Duration::from_secs(3));
    let (_dir, file) = config(&format!(
        r#"
[[routes]]
match = "path:/timely/*"
forward = ["{}", "{}"]
respond = "app"
respond_timeout = "10s"

[[routes]]
match = "path:/slow/*"
forward = "{}"
respond = "app"
respond_timeout = "300ms"
fallback = {{ status = 202, body = "queued", headers = {{ "X-Fallback" = "1" }} }}
"#,
        timely.url(),
        second.url(),
        slow.url()
    ));
    let listener = Listener::start(&["--headless", "--config", file.to_str().expect("utf-8")]);
    let answer = send(&listener, "/timely/a", r#"{"type":"x"}"#).await;
    assert_eq!(answer.status, 201, "the first target's answer, not the second's");
    assert_eq!(header(&answer, "x-app"), Some("test"));
    assert_eq!(header(&answer, "content-type"), Some("application/json"));
    assert_eq!(answer.body, br#"{"received":0}"#);
    // The app's answer is not known when the capture is journaled: a note says who answered.
    let timely_capture = listener
        .captures()
        .into_iter()
        .find(|c| c.path == "/timely/a")
        .expect("journaled");
    assert_eq!(
        timely_capture.note.as_deref(),
        Some("answered with the app's own response, or 504 after 10s")
    );

    let started = Instant::now();
    let fallback = send(&listener, "/slow/b", r#"{"type":"x"}"#).await;
    let waited = started.elapsed();
    assert_eq!(fallback.status, 202);
    assert_eq!(fallback.body, b"queued");
    assert_eq!(header(&fallback, "x-fallback"), Some("1"));
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(
        waited < Duration::from_millis(2500),
        "the fallback came before the app: {waited:?}"
    );
    // The slow app still gets its delivery, journaled when it answers.
    let attempts = attempts(&listener, 3);
    assert!(
        attempts
            .iter()
            .any(|a| a.target.starts_with(&slow.url()) && a.status() == Some(200))
    );
}

#[tokio::test]
async fn routes_on_the_command_line_come_first_and_fan_out() {
    let (a, b, c) = (LocalApp::start(), LocalApp::start(), LocalApp::start());
    let (_dir, file) = config(&format!(
        "[[routes]]\nmatch = \"path:/a/*\"\nforward = \"{}\"\n",
        c.url()
    ));
    let mut listener = Listener::start(&[
        "--headless",
        "--config",
        file.to_str().expect("utf-8"),
        "--route",
        &format!("path:/a/* => {}, {}", a.url(), b.url()),
    ]);
    send(&listener, "/a/1", r#"{"type":"x"}"#).await;
    let attempts = attempts(&listener, 2);
    assert!(attempts.iter().all(|at| at.route.as_deref() == Some("path:/a/*")));
    assert_eq!((a.seen().len(), b.seen().len(), c.seen().len()), (1, 1, 0));
    let (_, _, stderr) = listener.stop();
    let line = format!("--route 1: path:/a/* → {}, {}", a.url(), b.url());
    assert!(stderr.lines().any(|l| l == line), "{line:?} not in\n{stderr}");
}

/// `listen` with `args`; it must refuse to start: its stderr.
fn refused(args: &[&str]) -> String {
    let out = binary()
        .args(["listen", "--addr", "127.0.0.1:0", "--headless"])
        .args(args)
        .output()
        .expect("run listen");
    assert!(!out.status.success(), "it started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn configuration_mistakes_stop_listen_naming_the_route_and_the_key() {
    for (text, expected) in [
        (
            "[[routes]]\nmatch = \"path:/a\"\nforward = []\n\n[[routes]]\nmatch = \"path:/b\"\nrespond = { stauts = 500 }\n",
            "route 2, `respond`: unknown field `stauts`",
        ),
        (
            "[[routes]]\nmatch = \"path:/a\"\nforwad = \"http://127.0.0.1:1\"\n",
            "route 1: unknown field `forwad`",
        ),
        (
            "[[routes]]\nmatch = \"path:/a\"\nrespond = { delay = \"10m\" }\n",
            "route 1, `respond`: delay: \"10m\" is longer than the most, 60s",
        ),
        (
            "[[routes]]\nmatch = \"path:/a\"\nrespond = { headers = { \"X-Bad\" = \"a\\u0007b\" } }\n",
            "route 1, `respond`: the value of \"X-Bad\" is not a valid header value",
        ),
        (
            "[[routes]]\nmatch = \"path:/a\"\nforward = \"ftp://127.0.0.1\"\n",
            "route 1, `forward`: \"ftp://127.0.0.1\": expected an http:// URL",
        ),
    ] {
        let (_dir, file) = config(text);
        let stderr = refused(&["--config", file.to_str().expect("utf-8")]);
        assert!(stderr.contains(expected), "{text}\ngave: {stderr}");
        assert!(stderr.contains("hookscope.toml"), "names the file: {stderr}");
    }
    let stderr = refused(&["--route", "path:/a/* http://127.0.0.1:1"]);
    assert!(stderr.contains("expected 'MATCH => URL"), "{stderr}");
}

/// The README's `hookscope.toml` for OptiView, Millicast and Dyte at once is one `listen` takes,
/// with the routes it says.
#[test]
fn the_readmes_configuration_starts_with_the_routes_it_describes() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let section = readme.split("\n## Routes\n").nth(1).expect("a Routes section");
    let toml = section
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("a toml block");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("hookscope.toml"), toml).expect("write");
    let keygen = binary()
        .args(["keygen", "dyte", "--out", "dyte.pem"])
        .current_dir(dir.path())
        .output()
        .expect("keygen");
    assert!(keygen.status.success(), "{keygen:?}");
    std::fs::rename(
        dir.path().join("dyte.pub.pem"),
        dir.path().join("dyte-public.pem"),
    )
    .expect("rename");
    let mut child = binary()
        .args(["listen", "--addr", "127.0.0.1:0", "--headless"])
        .current_dir(dir.path())
        .env("OPTIVIEW_SECRET", "dolby_sec_readme")
        .env("MILLICAST_SECRET", "c2VjcmV0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("listen");
    let (_, stderr) = common::announced_address(&mut child);
    let expected = [
        "route 1: millicast-down (provider:millicast path:/down/*) → not forwarded · answers 503 \"busy\" after 400ms",
        "route 2: optiview (provider:optiview) → http://127.0.0.1:3000/optiview, http://127.0.0.1:4000/audit (retry exp:3) · fails the first 2 deliveries of each event with 500",
        "route 3: millicast (provider:millicast) → http://127.0.0.1:3001/millicast",
        "route 4: dyte (provider:dyte) → http://127.0.0.1:3002/dyte · answers app (else 202 after 5s)",
        // Naming a provider only, it decides nothing else.
        "route 5: path = \"/hooks/aioz/*\" · provider aioz",
    ];
    let lines = wait_for("the route lines", PATIENCE, || {
        let lines = stderr.lock().expect("lock").clone();
        lines.iter().any(|l| l.starts_with("route 5")).then_some(lines)
    });
    let _ = child.kill();
    let _ = child.wait();
    for line in expected {
        assert!(lines.iter().any(|l| l == line), "{line:?} not in {lines:#?}");
    }
}
